-- Reserved: 011 is the baddata branch's number, and tern refuses a gap before
-- 012. This file does nothing; when a branch brings its own 011, the merge
-- keeps that one and deletes this file.

SELECT 1;

---- create above / drop below ----
