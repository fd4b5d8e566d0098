package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// OperatorSession is an operator signed in to the worker's pages through a
// partner's tenant.
type OperatorSession struct {
	PartnerID string
	UPN       string
	Name      string
	Groups    []string // the security groups of the ID token
	ExpiresAt time.Time
}

// CreateOperatorSession stores a session under its token's hash and purges
// expired sessions.
func (s *Store) CreateOperatorSession(ctx context.Context, token string, o OperatorSession) error {
	if o.Groups == nil {
		o.Groups = []string{}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM operator_sessions WHERE expires_at < now()`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO operator_sessions (token_hash, partner_id, upn, display_name, groups, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, stateHash(token), o.PartnerID, o.UPN, o.Name, o.Groups, o.ExpiresAt)
		return err
	})
}

// GetOperatorSession returns the unexpired session of a token, or ErrNotFound.
func (s *Store) GetOperatorSession(ctx context.Context, token string) (OperatorSession, error) {
	var o OperatorSession
	err := s.pool.QueryRow(ctx, `SELECT partner_id, upn, display_name, groups, expires_at FROM operator_sessions
		WHERE token_hash = $1 AND expires_at > now()`, stateHash(token)).Scan(&o.PartnerID, &o.UPN, &o.Name, &o.Groups, &o.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ErrNotFound
	}
	return o, err
}

// DeleteOperatorSession ends a session (signing out).
func (s *Store) DeleteOperatorSession(ctx context.Context, token string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM operator_sessions WHERE token_hash = $1`, stateHash(token))
	return err
}

// SealValue seals a value kept outside the database (a sign-in in progress, in
// the browser's cookie) with the key of the stored secrets; purpose binds
// it to its use.
func (s *Store) SealValue(value []byte, purpose string) []byte { return s.box.Seal(value, purpose) }

// OpenValue opens what SealValue sealed for the same purpose.
func (s *Store) OpenValue(sealed []byte, purpose string) ([]byte, error) {
	return s.box.Open(sealed, purpose)
}
