-- The safety brake on inactivations: a users round never makes more than a
-- partner's share of a customer's active users inactive at once. The round
-- stops before writing them and records an error; an operator's
-- confirmation lets the customer's next round through, and that round's
-- end clears it (a stale confirmation would disarm the brake for good).
ALTER TABLE partners ADD COLUMN max_inactivate_share integer NOT NULL DEFAULT 20
    CHECK (max_inactivate_share BETWEEN 1 AND 100);
ALTER TABLE customers ADD COLUMN inactivation_confirmed_at timestamptz;

---- create above / drop below ----

ALTER TABLE customers DROP COLUMN inactivation_confirmed_at;
ALTER TABLE partners DROP COLUMN max_inactivate_share;
