-- A disconnected partner's tokens stay forgotten: an activity still running
-- when `cspsync disconnect` removed them must not store them again. Only a
-- new authorisation (a sign-in cspsync started) allows tokens again.
ALTER TABLE partners ADD COLUMN tokens_revoked boolean NOT NULL DEFAULT false;

---- create above / drop below ----

ALTER TABLE partners DROP COLUMN tokens_revoked;
