-- Users: each customer has sites; PSA users belong to a customer and a site.
-- Microsoft's users reach them through Graph delta rounds placed by site
-- mappings and shaped by field mappings; every change is logged.

CREATE TABLE sites (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name <> ''),
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sites_name ON sites (customer_id, lower(name));
CREATE UNIQUE INDEX sites_default ON sites (customer_id) WHERE is_default;

-- Every customer has a default site from its creation (triggers fire in name
-- order: the site exists before the auto mapping below looks for it).
CREATE FUNCTION customers_default_site() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sites (customer_id, name, is_default) VALUES (NEW.id, 'Main', true);
    RETURN NEW;
END $$;
CREATE TRIGGER customers_1_default_site AFTER INSERT ON customers
    FOR EACH ROW EXECUTE FUNCTION customers_default_site();
INSERT INTO sites (customer_id, name, is_default) SELECT id, 'Main', true FROM customers;

CREATE TABLE psa_users (
    id              bigserial PRIMARY KEY,
    customer_id     bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    site_id         bigint NOT NULL REFERENCES sites (id),
    azure_object_id uuid,
    azure_tenant_id uuid,
    name            text NOT NULL DEFAULT '',
    email           text NOT NULL DEFAULT '',
    network_login   text NOT NULL DEFAULT '',
    phone           text NOT NULL DEFAULT '',
    mobile          text NOT NULL DEFAULT '',
    job_title       text NOT NULL DEFAULT '',
    department      text NOT NULL DEFAULT '',
    last_sign_in    timestamptz,
    active          boolean NOT NULL DEFAULT true,
    inactive_reason text NOT NULL DEFAULT '',
    custom_fields   jsonb NOT NULL DEFAULT '{}',
    source          text NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'azure')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX psa_users_azure ON psa_users (customer_id, azure_object_id) WHERE azure_object_id IS NOT NULL;
-- Matching users created by hand (no Azure id yet), compared trimmed and case-insensitively.
CREATE INDEX psa_users_match_email ON psa_users (customer_id, lower(btrim(email))) WHERE azure_object_id IS NULL;
CREATE INDEX psa_users_match_name ON psa_users (customer_id, lower(btrim(name))) WHERE azure_object_id IS NULL;
CREATE INDEX psa_users_match_login ON psa_users (customer_id, lower(btrim(network_login))) WHERE azure_object_id IS NULL;

-- Site mappings: an ordered list of (filter, site); the first match places a user.
CREATE TABLE site_mappings (
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    position    integer NOT NULL CHECK (position > 0),
    filter      text NOT NULL,
    site_id     bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, position)
);

-- Field mappings: partner-wide (customer_id 0) or a customer's overrides.
CREATE TABLE field_mappings (
    partner_id  text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    customer_id bigint NOT NULL DEFAULT 0,
    psa_field   text NOT NULL,
    expression  text NOT NULL,
    PRIMARY KEY (partner_id, customer_id, psa_field)
);

ALTER TABLE partners
    ADD COLUMN user_match_rules text[] NOT NULL DEFAULT '{email,name,network_login}',
    ADD COLUMN ignore_account_enabled boolean NOT NULL DEFAULT false,
    ADD COLUMN auto_site_mappings boolean NOT NULL DEFAULT true,
    ADD COLUMN inbound_log_retention interval NOT NULL DEFAULT '30 days';

-- With the partner's auto_site_mappings, a customer that gets a tenant id
-- (discovery, or set by hand) and has no site mapping gets one unfiltered
-- mapping to its default site.
CREATE FUNCTION customers_auto_site_mapping() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.azure_tenant_id IS NOT NULL AND NEW.partner_id IS NOT NULL
        AND EXISTS (SELECT 1 FROM partners WHERE id = NEW.partner_id AND auto_site_mappings)
        AND NOT EXISTS (SELECT 1 FROM site_mappings WHERE customer_id = NEW.id) THEN
        INSERT INTO site_mappings (customer_id, position, filter, site_id)
        SELECT NEW.id, 1, 'true', id FROM sites WHERE customer_id = NEW.id AND is_default;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER customers_2_auto_site_mapping AFTER INSERT OR UPDATE OF azure_tenant_id, partner_id ON customers
    FOR EACH ROW EXECUTE FUNCTION customers_auto_site_mapping();

-- A tenant's user rounds: the delta link between rounds, and the cursor of
-- the round in progress, written with each page so a crash loses one page.
CREATE TABLE user_rounds (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('full', 'delta')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    next_link   text,
    pages       integer NOT NULL DEFAULT 0,
    users       integer NOT NULL DEFAULT 0,
    created     integer NOT NULL DEFAULT 0,
    updated     integer NOT NULL DEFAULT 0,
    moved       integer NOT NULL DEFAULT 0,
    inactivated integer NOT NULL DEFAULT 0,
    reactivated integer NOT NULL DEFAULT 0,
    excluded    integer NOT NULL DEFAULT 0,
    ambiguous   integer NOT NULL DEFAULT 0,
    invalid     integer NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX user_rounds_open ON user_rounds (customer_id) WHERE finished_at IS NULL;

-- The users a full round saw, so that its end makes inactive the imported
-- users Microsoft no longer lists; emptied when the round finishes.
CREATE TABLE user_round_seen (
    round_id        bigint NOT NULL REFERENCES user_rounds (id) ON DELETE CASCADE,
    azure_object_id uuid NOT NULL
);
CREATE INDEX user_round_seen_round ON user_round_seen (round_id, azure_object_id);

ALTER TABLE customers
    ADD COLUMN delta_link    text,
    ADD COLUMN delta_link_at timestamptz,
    -- The $select the delta link was made with: Graph keeps it in the link,
    -- so mappings that read other properties need a new full round.
    ADD COLUMN delta_select  text,
    ADD COLUMN sign_ins_at   timestamptz;

-- The inbound log: one row per user change processed, kept for the
-- partner's retention; pruned by time through its BRIN index.
CREATE TABLE inbound_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    round_id        bigint NOT NULL,
    customer_id     bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    azure_object_id uuid,
    psa_user_id     bigint,
    mapping         text NOT NULL DEFAULT '',
    match_rule      text NOT NULL DEFAULT '',
    result          text NOT NULL CHECK (result IN ('created', 'updated', 'unchanged', 'moved', 'inactivated',
                        'reactivated', 'excluded', 'ambiguous', 'invalid')),
    changes         jsonb NOT NULL DEFAULT '{}',
    reason          text NOT NULL DEFAULT ''
);
CREATE INDEX inbound_log_at ON inbound_log USING brin (at);
CREATE INDEX inbound_log_customer ON inbound_log (customer_id, id);

---- create above / drop below ----

DROP TABLE inbound_log;
ALTER TABLE customers DROP COLUMN delta_link, DROP COLUMN delta_link_at, DROP COLUMN delta_select, DROP COLUMN sign_ins_at;
DROP TABLE user_round_seen;
DROP TABLE user_rounds;
ALTER TABLE partners
    DROP COLUMN user_match_rules,
    DROP COLUMN ignore_account_enabled,
    DROP COLUMN auto_site_mappings,
    DROP COLUMN inbound_log_retention;
DROP TRIGGER customers_2_auto_site_mapping ON customers;
DROP FUNCTION customers_auto_site_mapping();
DROP TABLE field_mappings;
DROP TABLE site_mappings;
DROP TABLE psa_users;
DROP TRIGGER customers_1_default_site ON customers;
DROP FUNCTION customers_default_site();
DROP TABLE sites;
