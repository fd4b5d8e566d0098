-- Reserved: 014 is another branch's number (issue 18/16 work), and tern refuses a
-- gap before 016. This file does nothing; when a branch brings its own 014, the
-- merge keeps that one and deletes this file.

SELECT 1;

---- create above / drop below ----
