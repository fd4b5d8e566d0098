package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/cspsync/cspsync/internal/secrets"
)

func tokenCacheAAD(partnerID, key string) string { return "token_caches/" + partnerID + "/" + key }

// credentialReads counts the reads of sealed credentials: a partner's
// secrets and MSAL's token caches.
var credentialReads atomic.Int64

// CredentialReads is how many times this process has read a partner's
// secrets or a token cache from the database (each one query): what tests
// and benchmarks count against the Graph requests made.
func CredentialReads() int64 { return credentialReads.Load() }

// LoadTokenCache returns the decrypted MSAL cache blob, or nil if none.
func (s *Store) LoadTokenCache(ctx context.Context, partnerID, key string) ([]byte, error) {
	credentialReads.Add(1)
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
// tokens the new key would not open. Nothing is stored for a partner
// disconnected since (its tokens stay forgotten until it is authorised again).
func (s *Store) SaveTokenCache(ctx context.Context, partnerID, key string, blob []byte) error {
	var verified []byte
	if p := s.keyCheck.Load(); p != nil {
		verified = *p
	}
	var handled bool // stored, or skipped for a disconnected partner
	err := s.pool.QueryRow(ctx, `
		WITH p AS (SELECT tokens_revoked FROM partners WHERE id = $1),
		saved AS (
			INSERT INTO token_caches (partner_id, cache_key, ciphertext)
			SELECT $1, $2, $3 WHERE NOT coalesce((SELECT tokens_revoked FROM p), false)
				AND ($4::bytea IS NULL OR EXISTS (SELECT 1 FROM key_check WHERE sealed = $4))
			ON CONFLICT (partner_id, cache_key) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = now()
			RETURNING 1)
		SELECT coalesce((SELECT tokens_revoked FROM p), false) OR EXISTS (SELECT 1 FROM saved)`,
		partnerID, key, s.box.Seal(blob, tokenCacheAAD(partnerID, key)), verified).Scan(&handled)
	if err == nil && !handled {
		err = ErrKeyRotated
	}
	return err
}

// AllowTokens lets a partner store tokens again: its authorisation is being
// completed with a sign-in cspsync started.
func (s *Store) AllowTokens(ctx context.Context, partnerID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE partners SET tokens_revoked = false WHERE id = $1`, partnerID)
	return err
}
