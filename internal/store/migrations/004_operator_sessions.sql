-- Operators signed in to the worker's pages. The cookie's token is stored
-- only hashed; upn and groups are kept so that the allow-list, which may
-- change with a restart, is checked again on every request.
CREATE TABLE operator_sessions (
    token_hash   bytea PRIMARY KEY,
    partner_id   text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    upn          text NOT NULL,
    display_name text NOT NULL,
    groups       text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX operator_sessions_expires_at ON operator_sessions (expires_at);

-- One live consent link per tenant: a new one replaces the old. Older
-- duplicates go first.
DELETE FROM auth_requests a USING auth_requests b
WHERE a.kind = 'consent' AND b.kind = 'consent' AND a.used_at IS NULL AND b.used_at IS NULL
  AND a.tenant_id = b.tenant_id AND (a.created_at, a.state_hash) < (b.created_at, b.state_hash);
CREATE UNIQUE INDEX auth_requests_live_consent ON auth_requests (tenant_id)
    WHERE kind = 'consent' AND used_at IS NULL;

---- create above / drop below ----

DROP INDEX auth_requests_live_consent;
DROP TABLE operator_sessions;
