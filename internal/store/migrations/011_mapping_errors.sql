-- Users a field mapping failed for in a round (their field left as it
-- was), counted apart from what was decided about them.
ALTER TABLE user_rounds ADD COLUMN mapping_errors integer NOT NULL DEFAULT 0;

---- create above / drop below ----

ALTER TABLE user_rounds DROP COLUMN mapping_errors;
