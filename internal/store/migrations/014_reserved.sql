-- Reserved: 014 is another branch's number, and tern refuses a gap before
-- 015. This file does nothing; when the branch that owns 014 is merged, keep
-- its file and delete this one.

SELECT 1;

---- create above / drop below ----
