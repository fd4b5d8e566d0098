-- Partners: one row per CSP partner, with its two app registrations.
-- Secrets are AES-256-GCM ciphertexts (internal/secrets), never plain text.
CREATE TABLE partners (
    id                   text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    display_name         text NOT NULL,
    partner_tenant_id    text NOT NULL,
    pc_client_id         text NOT NULL,
    pc_client_secret     bytea NOT NULL,
    graph_client_id      text NOT NULL,
    graph_client_secret  bytea NOT NULL,
    authority_url        text NOT NULL DEFAULT 'https://login.microsoftonline.com',
    partner_center_url   text NOT NULL DEFAULT 'https://api.partnercenter.microsoft.com',
    graph_url            text NOT NULL DEFAULT 'https://graph.microsoft.com',
    default_relationship text NOT NULL DEFAULT 'GDAP' CHECK (default_relationship IN ('DAP', 'GDAP')),
    auth_state           text NOT NULL DEFAULT 'pending'
                         CHECK (auth_state IN ('pending', 'authorised', 'needs_reauthorisation')),
    home_account_id      text,
    authorised_at        timestamptz,
    -- Partner Center continuation token of the discovery in progress, written
    -- in the same transaction as the page it follows, so a crash loses at
    -- most one page of work.
    discovery_cursor     text,
    discovery_started_at timestamptz,
    last_discovery_at    timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Customers are the PSA's customers; some exist before any partner is
-- connected, so partner_id and azure_tenant_id may be null.
CREATE TABLE customers (
    id               bigserial PRIMARY KEY,
    partner_id       text REFERENCES partners (id) ON DELETE SET NULL,
    name             text NOT NULL CHECK (name <> ''),
    azure_tenant_id  uuid UNIQUE,
    tenant_id_source text CHECK (tenant_id_source IN ('discovered', 'manual')),
    domain           text,
    top_level        boolean NOT NULL DEFAULT true,
    relationship     text CHECK (relationship IN ('DAP', 'GDAP')),
    consent_state    text NOT NULL DEFAULT 'unknown'
                     CHECK (consent_state IN ('unknown', 'not_required', 'pending', 'granted', 'revoked')),
    discovered_at    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_lower_name ON customers (lower(name));

-- MSAL token caches (opaque JSON), encrypted, one per partner, app and MSAL partition.
CREATE TABLE token_caches (
    partner_id text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    cache_key  text NOT NULL,
    ciphertext bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, cache_key)
);

-- Pending browser round-trips (authorisation, admin consent). The state value
-- itself is only stored hashed; the PKCE verifier is encrypted.
CREATE TABLE auth_requests (
    state_hash    bytea PRIMARY KEY,
    partner_id    text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('authorise', 'consent')),
    tenant_id     uuid,
    code_verifier bytea,
    redirect_uri  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);

-- Every classified failure, one open row per cause while it persists.
CREATE TABLE integration_errors (
    id            bigserial PRIMARY KEY,
    partner_id    text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    tenant_id     uuid,
    operation     text NOT NULL,
    code          text NOT NULL,
    message       text NOT NULL,
    remediation   text NOT NULL,
    occurrences   integer NOT NULL DEFAULT 1,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz
);
CREATE UNIQUE INDEX integration_errors_open
    ON integration_errors (partner_id, coalesce(tenant_id::text, ''), operation, code)
    WHERE resolved_at IS NULL;

---- create above / drop below ----

DROP TABLE integration_errors;
DROP TABLE auth_requests;
DROP TABLE token_caches;
DROP TABLE customers;
DROP TABLE partners;
