-- A tenant's relationship as Microsoft says it is: discovery reads Partner
-- Center's delegated access and the partner's GDAP relationships; an
-- override by hand still wins. What the GDAP relationships come to is kept
-- (status, end, names, the role definition ids their active access
-- assignments give), and relationship_changed marks a tenant whose running
-- workflow has yet to hear of a change.
UPDATE customers SET relationship_source = 'override' WHERE relationship_source = 'manual';
ALTER TABLE customers DROP CONSTRAINT customers_relationship_source_check,
    ADD CONSTRAINT customers_relationship_source_check CHECK (relationship_source IN ('default', 'microsoft', 'override')),
    ADD COLUMN gdap_status text NOT NULL DEFAULT '',
    ADD COLUMN gdap_end_at timestamptz,
    ADD COLUMN gdap_name text NOT NULL DEFAULT '',
    ADD COLUMN gdap_roles text[] NOT NULL DEFAULT '{}',
    ADD COLUMN relationship_changed boolean NOT NULL DEFAULT false;

---- create above / drop below ----

ALTER TABLE customers DROP COLUMN gdap_status, DROP COLUMN gdap_end_at, DROP COLUMN gdap_name, DROP COLUMN gdap_roles,
    DROP COLUMN relationship_changed, DROP CONSTRAINT customers_relationship_source_check;
UPDATE customers SET relationship_source = 'manual' WHERE relationship_source = 'override';
UPDATE customers SET relationship_source = 'default' WHERE relationship_source = 'microsoft';
ALTER TABLE customers ADD CONSTRAINT customers_relationship_source_check CHECK (relationship_source IN ('default', 'manual'));
