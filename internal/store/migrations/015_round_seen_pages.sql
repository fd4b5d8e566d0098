-- The users a full round saw, one row per saved page (their ids as an array)
-- instead of one indexed row per user: a page of 200 users wrote 200 rows,
-- 200 index entries and 200 foreign-key checks to be read once, at the
-- round's end, and deleted (BenchmarkSaveUserPage). The end reads them all
-- at once, which needs no index per user.
CREATE TABLE user_round_seen_pages (
    round_id         bigint NOT NULL REFERENCES user_rounds (id) ON DELETE CASCADE,
    azure_object_ids uuid[] NOT NULL
);
CREATE INDEX user_round_seen_pages_round ON user_round_seen_pages (round_id);
INSERT INTO user_round_seen_pages (round_id, azure_object_ids)
    SELECT round_id, array_agg(azure_object_id) FROM user_round_seen GROUP BY round_id;
DROP TABLE user_round_seen;

---- create above / drop below ----

CREATE TABLE user_round_seen (
    round_id        bigint NOT NULL REFERENCES user_rounds (id) ON DELETE CASCADE,
    azure_object_id uuid NOT NULL
);
CREATE INDEX user_round_seen_round ON user_round_seen (round_id, azure_object_id);
INSERT INTO user_round_seen (round_id, azure_object_id)
    SELECT round_id, unnest(azure_object_ids) FROM user_round_seen_pages;
DROP TABLE user_round_seen_pages;
