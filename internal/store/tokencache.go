package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
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

// SaveTokenCache encrypts and stores an MSAL cache blob.
func (s *Store) SaveTokenCache(ctx context.Context, partnerID, key string, blob []byte) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO token_caches (partner_id, cache_key, ciphertext) VALUES ($1, $2, $3)
		ON CONFLICT (partner_id, cache_key) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = now()`,
		partnerID, key, s.box.Seal(blob, tokenCacheAAD(partnerID, key)))
	return err
}
