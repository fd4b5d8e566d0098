-- service_group_members is read by user (a page's users, the users a membership change
-- names) and replaced per customer: a key led by the user serves both, and the second index
-- it replaces only doubled the writes of a membership read in full (2,000 rows a tenant on
-- the rules benchmark).
ALTER TABLE service_group_members DROP CONSTRAINT service_group_members_pkey,
    ADD PRIMARY KEY (customer_id, azure_object_id, group_id);
DROP INDEX service_group_members_user;

---- create above / drop below ----

CREATE INDEX service_group_members_user ON service_group_members (customer_id, azure_object_id);
ALTER TABLE service_group_members DROP CONSTRAINT service_group_members_pkey,
    ADD PRIMARY KEY (customer_id, group_id, azure_object_id);
