-- Licences: every customer carries the Microsoft licences it holds, one row
-- per SKU, kept current by each tenant's cycle. Nothing is deleted: a
-- licence or subscription that disappears is marked ended, and every change
-- of units or status appends an event, so billing questions have answers.

-- Top levels are named groups of customers, as Halo has them.
CREATE TABLE top_levels (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE customers
    DROP COLUMN top_level,
    ADD COLUMN top_level_id bigint REFERENCES top_levels (id) ON DELETE SET NULL,
    ADD COLUMN licences_at  timestamptz;

ALTER TABLE partners
    ADD COLUMN licence_source text NOT NULL DEFAULT 'subscribed-skus'
        CHECK (licence_source IN ('subscriptions', 'subscribed-skus')),
    -- Partner Center refused the subscriptions API to the partner (no
    -- membership): imports stop asking until the source changes.
    ADD COLUMN licence_source_refused_at timestamptz,
    ADD COLUMN default_top_level_id bigint REFERENCES top_levels (id) ON DELETE SET NULL,
    -- Keep the imported tenants on the self-service portal's allowed list.
    ADD COLUMN sso_allowed_tenants boolean NOT NULL DEFAULT false;

CREATE TABLE licences (
    customer_id       bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    sku_id            uuid NOT NULL,
    part_number       text NOT NULL,
    product_name      text NOT NULL,
    total_units       integer NOT NULL,
    active_units      integer NOT NULL,
    consumed_units    integer NOT NULL,
    suspended_units   integer NOT NULL,
    warning_units     integer NOT NULL,
    capability_status text NOT NULL,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    ended_at          timestamptz,
    PRIMARY KEY (customer_id, sku_id)
);

CREATE TABLE licence_subscriptions (
    customer_id         bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    subscription_id     text NOT NULL,
    sku_id              uuid, -- the licence it provides seats of, when it can be told
    offer_id            text NOT NULL,
    offer_name          text NOT NULL,
    friendly_name       text NOT NULL,
    quantity            integer NOT NULL,
    status              text NOT NULL,
    billing_cycle       text NOT NULL,
    term_duration       text NOT NULL,
    commitment_end_date timestamptz,
    auto_renew          boolean NOT NULL,
    is_trial            boolean NOT NULL,
    first_seen_at       timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    ended_at            timestamptz,
    PRIMARY KEY (customer_id, subscription_id)
);

CREATE TABLE licence_events (
    id              bigserial PRIMARY KEY,
    customer_id     bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    sku_id          uuid,
    subscription_id text, -- null for a change of the licence itself
    at              timestamptz NOT NULL DEFAULT now(),
    field           text NOT NULL,
    old_value       text NOT NULL,
    new_value       text NOT NULL
);
CREATE INDEX licence_events_customer ON licence_events (customer_id, at);

---- create above / drop below ----

DROP TABLE licence_events;
DROP TABLE licence_subscriptions;
DROP TABLE licences;
ALTER TABLE partners
    DROP COLUMN licence_source,
    DROP COLUMN licence_source_refused_at,
    DROP COLUMN default_top_level_id,
    DROP COLUMN sso_allowed_tenants;
ALTER TABLE customers
    DROP COLUMN top_level_id,
    DROP COLUMN licences_at,
    ADD COLUMN top_level boolean NOT NULL DEFAULT true;
DROP TABLE top_levels;
