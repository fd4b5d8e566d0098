-- A customer's newest users round is read by every cycle, status and the
-- tenants page; rounds accumulate one per cycle, so find it by index.
CREATE INDEX user_rounds_customer ON user_rounds (customer_id, id);

---- create above / drop below ----

DROP INDEX user_rounds_customer;
