-- Tenant lifecycle: where each customer tenant's workflow stands, mirrored
-- here so the CLI, the consent page and `cspsync check` read one place.
ALTER TABLE customers
    ADD COLUMN relationship_source text NOT NULL DEFAULT 'default'
        CHECK (relationship_source IN ('default', 'manual')),
    ADD COLUMN sync_state text NOT NULL DEFAULT 'New'
        CHECK (sync_state IN ('New', 'AwaitingConsent', 'Ready', 'Syncing', 'Blocked', 'Paused')),
    ADD COLUMN sync_reason text NOT NULL DEFAULT '',
    ADD COLUMN last_sync_at timestamptz,
    ADD COLUMN consent_changed_at timestamptz;

---- create above / drop below ----

ALTER TABLE customers
    DROP COLUMN relationship_source,
    DROP COLUMN sync_state,
    DROP COLUMN sync_reason,
    DROP COLUMN last_sync_at,
    DROP COLUMN consent_changed_at;
