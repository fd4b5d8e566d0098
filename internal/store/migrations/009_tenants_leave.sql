-- Tenants that leave Partner Center: a complete discovery that no longer
-- lists a customer stamps left_at (the customer, its users and licences are
-- kept); a later discovery that lists it again clears it. Its workflow ends
-- and records the Left state.
ALTER TABLE customers ADD COLUMN left_at timestamptz;
ALTER TABLE customers DROP CONSTRAINT customers_sync_state_check,
    ADD CONSTRAINT customers_sync_state_check
        CHECK (sync_state IN ('New', 'AwaitingConsent', 'Ready', 'Syncing', 'Blocked', 'Paused', 'Left'));

---- create above / drop below ----

UPDATE customers SET sync_state = 'Paused' WHERE sync_state = 'Left';
ALTER TABLE customers DROP CONSTRAINT customers_sync_state_check,
    ADD CONSTRAINT customers_sync_state_check
        CHECK (sync_state IN ('New', 'AwaitingConsent', 'Ready', 'Syncing', 'Blocked', 'Paused'));
ALTER TABLE customers DROP COLUMN left_at;
