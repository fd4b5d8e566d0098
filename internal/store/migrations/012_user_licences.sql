-- Users and licences as one picture: the licences each PSA user holds, who is
-- a service user (never billed, cannot log tickets) and why, the settings
-- that decide it, and the history month-end billing needs ("who was billable
-- on the 31st?"). Nothing here is deleted: ended links, past states and past
-- seat counts are kept.

-- Settings. A partner's service group applies to its customers unless a
-- customer overrides it (NULL: the partner's; '': no group for this customer).
-- Billable SKUs are kept as SKU ids, resolved from the product reference when
-- saved, since Graph's assignedLicenses names SKUs by id; empty: no rule.
ALTER TABLE partners
    ADD COLUMN service_group text NOT NULL DEFAULT '',
    ADD COLUMN billable_skus uuid[] NOT NULL DEFAULT '{}';
ALTER TABLE customers
    ADD COLUMN service_group text,
    -- groups/delta state: the link after the last read, the group name it was
    -- made for (a new name needs a full read) and when it was read.
    ADD COLUMN group_delta_link  text,
    ADD COLUMN group_delta_group text,
    ADD COLUMN group_delta_at    timestamptz;

-- The members of the tenant's groups that carry the service group's name, as
-- groups/delta last said (a user in any of them is not a service user).
CREATE TABLE service_group_members (
    customer_id     bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    group_id        uuid NOT NULL,
    azure_object_id uuid NOT NULL,
    PRIMARY KEY (customer_id, group_id, azure_object_id)
);
CREATE INDEX service_group_members_user ON service_group_members (customer_id, azure_object_id);

-- The tenant's groups of that name (a tenant may have none: then no user is
-- turned into a service user by the group rule, see the README).
CREATE TABLE service_groups (
    customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    group_id    uuid NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (customer_id, group_id)
);

-- service_reason names the rule that decided: 'group', 'licences' or
-- 'group,licences' ('' for a normal user).
ALTER TABLE psa_users
    ADD COLUMN service_user   boolean NOT NULL DEFAULT false,
    ADD COLUMN service_reason text NOT NULL DEFAULT '';

-- One current row per PSA user and SKU Graph says he holds, linked to the
-- customer's licence row when there is one (licence_sku_id set) and pending
-- (NULL) until the licences import brings that SKU. A removed assignment
-- keeps its row with removed_at; assigning the SKU again adds a new row.
CREATE TABLE user_licences (
    id             bigserial PRIMARY KEY,
    psa_user_id    bigint NOT NULL REFERENCES psa_users (id) ON DELETE CASCADE,
    customer_id    bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    sku_id         uuid NOT NULL,
    licence_sku_id uuid,
    assigned_at    timestamptz NOT NULL DEFAULT now(),
    removed_at     timestamptz,
    FOREIGN KEY (customer_id, licence_sku_id) REFERENCES licences (customer_id, sku_id),
    CHECK (licence_sku_id IS NULL OR licence_sku_id = sku_id)
);
CREATE UNIQUE INDEX user_licences_current ON user_licences (psa_user_id, sku_id) WHERE removed_at IS NULL;
CREATE INDEX user_licences_customer ON user_licences (customer_id, sku_id);
CREATE INDEX user_licences_pending ON user_licences (customer_id) WHERE licence_sku_id IS NULL AND removed_at IS NULL;

-- Billable-state history: one row each time a user's active or service state
-- changes (and when he is created), written by trigger so that every path
-- that changes a user (rounds, hand edits, later write-back) records it.
CREATE TABLE psa_user_states (
    id             bigserial PRIMARY KEY,
    psa_user_id    bigint NOT NULL REFERENCES psa_users (id) ON DELETE CASCADE,
    customer_id    bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    at             timestamptz NOT NULL DEFAULT now(),
    active         boolean NOT NULL,
    service_user   boolean NOT NULL,
    service_reason text NOT NULL DEFAULT '',
    inactive_reason text NOT NULL DEFAULT ''
);
CREATE INDEX psa_user_states_user ON psa_user_states (psa_user_id, at);
CREATE INDEX psa_user_states_customer ON psa_user_states (customer_id, at);

CREATE FUNCTION psa_users_state_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.active IS DISTINCT FROM NEW.active OR OLD.service_user IS DISTINCT FROM NEW.service_user
        OR OLD.customer_id IS DISTINCT FROM NEW.customer_id THEN
        INSERT INTO psa_user_states (psa_user_id, customer_id, at, active, service_user, service_reason, inactive_reason)
        VALUES (NEW.id, NEW.customer_id, clock_timestamp(), NEW.active, NEW.service_user, NEW.service_reason, NEW.inactive_reason);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER psa_users_state_history AFTER INSERT OR UPDATE ON psa_users
    FOR EACH ROW EXECUTE FUNCTION psa_users_state_history();
INSERT INTO psa_user_states (psa_user_id, customer_id, at, active, service_user, inactive_reason)
SELECT id, customer_id, created_at, active, false, inactive_reason FROM psa_users;

-- Seat history: paid (active) and consumed units of each licence whenever
-- they change or the licence ends, so --at can answer for a past date.
CREATE TABLE licence_states (
    id             bigserial PRIMARY KEY,
    customer_id    bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    sku_id         uuid NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    active_units   integer NOT NULL,
    consumed_units integer NOT NULL,
    ended          boolean NOT NULL
);
CREATE INDEX licence_states_customer ON licence_states (customer_id, sku_id, at);

CREATE FUNCTION licences_state_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.active_units IS DISTINCT FROM NEW.active_units
        OR OLD.consumed_units IS DISTINCT FROM NEW.consumed_units
        OR (OLD.ended_at IS NULL) IS DISTINCT FROM (NEW.ended_at IS NULL) THEN
        INSERT INTO licence_states (customer_id, sku_id, at, active_units, consumed_units, ended)
        VALUES (NEW.customer_id, NEW.sku_id, clock_timestamp(), NEW.active_units, NEW.consumed_units, NEW.ended_at IS NOT NULL);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER licences_state_history AFTER INSERT OR UPDATE ON licences
    FOR EACH ROW EXECUTE FUNCTION licences_state_history();
INSERT INTO licence_states (customer_id, sku_id, at, active_units, consumed_units, ended)
SELECT customer_id, sku_id, first_seen_at, active_units, consumed_units, ended_at IS NOT NULL FROM licences;

---- create above / drop below ----

DROP TRIGGER licences_state_history ON licences;
DROP FUNCTION licences_state_history();
DROP TABLE licence_states;
DROP TRIGGER psa_users_state_history ON psa_users;
DROP FUNCTION psa_users_state_history();
DROP TABLE psa_user_states;
DROP TABLE user_licences;
ALTER TABLE psa_users DROP COLUMN service_user, DROP COLUMN service_reason;
DROP TABLE service_groups;
DROP TABLE service_group_members;
ALTER TABLE customers DROP COLUMN service_group, DROP COLUMN group_delta_link, DROP COLUMN group_delta_group, DROP COLUMN group_delta_at;
ALTER TABLE partners DROP COLUMN service_group, DROP COLUMN billable_skus;
