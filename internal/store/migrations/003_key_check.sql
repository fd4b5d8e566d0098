-- The key check: one value sealed under the encryption key, written when it
-- is first missing (only if that key opens everything already stored). The
-- worker and the CLI open it at start, so a different key is refused with
-- its fix instead of failing every decryption later.
CREATE TABLE key_check (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    sealed     bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

---- create above / drop below ----

DROP TABLE key_check;
