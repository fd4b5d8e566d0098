package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cspsync/cspsync/internal/secrets"
)

func tokenCacheAAD(partnerID, key string) string { return "token_caches/" + partnerID + "/" + key }

// LoadTokenCache returns the decrypted MSAL cache blob, or nil if none.
func (s *Store) LoadTokenCache(ctx context.Context, partnerID, key string) ([]byte, error) {
	var ct []byte
	err := s.pool.QueryRow(ctx, `SELECT ciphertext FROM token_caches WHERE partner_id = $1 AND cache_key = $2`,
		partnerID, key).Scan(&ct)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.box.Open(ct, tokenCacheAAD(partnerID, key))
}

// ErrKeyRotated means the stored data was re-sealed under another key after
// this process checked its key: what it would seal now nobody could open.
var ErrKeyRotated = fmt.Errorf("%w: the stored data was re-sealed under another key (`cspsync keys rotate`) after this process started; restart it with the new key", secrets.ErrDecrypt)

// SaveTokenCache encrypts and stores an MSAL cache blob. Once CheckKey has
// passed, it writes only while the key-check value is the one it verified,
// so a worker left running on the old key after a rotation cannot store
// tokens the new key would not open.
func (s *Store) SaveTokenCache(ctx context.Context, partnerID, key string, blob []byte) error {
	var verified []byte
	if p := s.keyCheck.Load(); p != nil {
		verified = *p
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO token_caches (partner_id, cache_key, ciphertext)
		SELECT $1, $2, $3 WHERE $4::bytea IS NULL OR EXISTS (SELECT 1 FROM key_check WHERE sealed = $4)
		ON CONFLICT (partner_id, cache_key) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = now()`,
		partnerID, key, s.box.Seal(blob, tokenCacheAAD(partnerID, key)), verified)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrKeyRotated
	}
	return err
}
