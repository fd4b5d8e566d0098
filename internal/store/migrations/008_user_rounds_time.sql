-- A customer's newest users round is read by every cycle, status and the
-- tenants page; rounds accumulate one per cycle, so find it by index.
CREATE INDEX user_rounds_customer ON user_rounds (customer_id, id);

-- Where a round's time went: waiting for Microsoft (pages and re-reads),
-- deciding (decoding, filters, mappings, matching lookups) and writing the
-- pages to PostgreSQL, so a slow round says whom to blame.
ALTER TABLE user_rounds
    ADD COLUMN microsoft_time interval NOT NULL DEFAULT '0',
    ADD COLUMN decide_time    interval NOT NULL DEFAULT '0',
    ADD COLUMN write_time     interval NOT NULL DEFAULT '0';

---- create above / drop below ----

ALTER TABLE user_rounds DROP COLUMN microsoft_time, DROP COLUMN decide_time, DROP COLUMN write_time;
DROP INDEX user_rounds_customer;
