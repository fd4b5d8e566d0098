-- Placeholder: number 003 belongs to the keys branch (key-check value and
-- rotation). Replace this file with that branch's 003 when merging; tern
-- needs consecutive numbers, so 004 cannot run without a 003.
SELECT 1;

---- create above / drop below ----
