-- Licence management from the PSA: which customers cspsync assigns and
-- removes licences for, and every change it was asked for, with its outcome.

-- managed_by names the integration recorded as managing the customer's
-- licences: '' nobody, 'cspsync' this one (management on), anything else
-- another integration, which keeps cspsync from turning management on: two
-- managers writing the same assignments undo each other's work.
ALTER TABLE customers ADD COLUMN managed_by text NOT NULL DEFAULT '';

CREATE TABLE licence_changes (
    id              uuid PRIMARY KEY, -- the request id, part of the workflow id
    partner_id      text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    customer_id     bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    psa_user_id     bigint REFERENCES psa_users (id) ON DELETE SET NULL,
    azure_object_id uuid NOT NULL,
    user_name       text NOT NULL,
    sku_id          uuid NOT NULL,
    sku_name        text NOT NULL,
    action          text NOT NULL CHECK (action IN ('assign', 'remove')),
    requested_by    text NOT NULL,
    workflow_id     text NOT NULL,
    state           text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    -- applied: cspsync's assignLicense call made the change (false when
    -- Microsoft already agreed, e.g. after a worker was killed mid-change).
    applied         boolean NOT NULL DEFAULT false,
    -- holds: whether the user holds the SKU in Microsoft when the change
    -- finished, read back from Graph (NULL: it could not be read).
    holds           boolean,
    error_code      text NOT NULL DEFAULT '',
    error_message   text NOT NULL DEFAULT '',
    remediation     text NOT NULL DEFAULT '',
    requested_at    timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
-- One running change per user and SKU.
CREATE UNIQUE INDEX licence_changes_running ON licence_changes (customer_id, azure_object_id, sku_id) WHERE state = 'running';
CREATE INDEX licence_changes_customer ON licence_changes (customer_id, requested_at);

---- create above / drop below ----

DROP TABLE licence_changes;
ALTER TABLE customers DROP COLUMN managed_by;
