package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuthRequest is a pending browser round-trip: the partner's authorisation
// (kind "authorise") or a customer tenant's admin consent (kind "consent").
type AuthRequest struct {
	State        string
	PartnerID    string
	Kind         string
	TenantID     string
	CodeVerifier string
	RedirectURI  string
	TTL          time.Duration
}

// Errors of ConsumeAuthRequest; the HTTP callback answers 400 to each, with
// the fix of its kind of link (a new sign-in or a new consent link).
var (
	ErrUnknownState = errors.New("unknown state: this link was not issued by cspsync")
	ErrStateUsed    = errors.New("state already used: this link was completed before")
	ErrStateExpired = errors.New("state expired: the link is too old")
)

func stateHash(state string) []byte { h := sha256.Sum256([]byte(state)); return h[:] }

func verifierAAD(hash []byte) string { return fmt.Sprintf("auth_requests/%x", hash) }

// CreateAuthRequest remembers a state value (hashed) and its PKCE verifier
// (sealed), and returns when it expires. A consent request replaces the
// tenant's unused one, so each tenant has one live consent link. Requests
// expired or used over an hour ago are purged first (within the hour a
// replayed callback still hears why it is refused).
func (s *Store) CreateAuthRequest(ctx context.Context, r AuthRequest) (time.Time, error) {
	h := stateHash(r.State)
	var verifier []byte
	if r.CodeVerifier != "" {
		verifier = s.box.Seal([]byte(r.CodeVerifier), verifierAAD(h))
	}
	var tenant any
	if r.TenantID != "" {
		tenant = r.TenantID
	}
	var expires time.Time
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM auth_requests
			WHERE expires_at < now() - interval '1 hour' OR used_at < now() - interval '1 hour'`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO auth_requests (state_hash, partner_id, kind, tenant_id, code_verifier, redirect_uri, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)
			ON CONFLICT (tenant_id) WHERE kind = 'consent' AND used_at IS NULL DO UPDATE SET
				state_hash = EXCLUDED.state_hash, partner_id = EXCLUDED.partner_id, code_verifier = EXCLUDED.code_verifier,
				redirect_uri = EXCLUDED.redirect_uri, created_at = now(), expires_at = EXCLUDED.expires_at
			RETURNING expires_at`,
			h, r.PartnerID, r.Kind, tenant, verifier, r.RedirectURI, r.TTL.String()).Scan(&expires)
	})
	return expires, err
}

// LiveConsentLinks returns when each tenant's unused consent link expires
// (one partner's tenants, or all when partnerID is empty).
func (s *Store) LiveConsentLinks(ctx context.Context, partnerID string) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant_id::text, expires_at FROM auth_requests
		WHERE kind = 'consent' AND used_at IS NULL AND expires_at > now() AND ($1 = '' OR partner_id = $1)`, partnerID)
	if err != nil {
		return nil, err
	}
	links := map[string]time.Time{}
	var tenant string
	var expires time.Time
	_, err = pgx.ForEachRow(rows, []any{&tenant, &expires}, func() error {
		links[tenant] = expires
		return nil
	})
	return links, err
}

// PendingAuthRequest returns what a state was issued for without using it
// up: the same checks as ConsumeAuthRequest, and no verifier.
func (s *Store) PendingAuthRequest(ctx context.Context, state string) (AuthRequest, error) {
	r := AuthRequest{State: state}
	var tenant *string
	var used *time.Time
	var expired bool
	err := s.pool.QueryRow(ctx, `SELECT partner_id, kind, tenant_id::text, redirect_uri, used_at, expires_at < now()
		FROM auth_requests WHERE state_hash = $1`, stateHash(state)).
		Scan(&r.PartnerID, &r.Kind, &tenant, &r.RedirectURI, &used, &expired)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return r, ErrUnknownState
	case err != nil:
		return r, err
	case used != nil:
		return r, ErrStateUsed
	case expired:
		return r, ErrStateExpired
	}
	if tenant != nil {
		r.TenantID = *tenant
	}
	return r, nil
}

// ConsumeAuthRequest marks a state used, once, and returns what it was for
// (the verifier opened, and dropped from the store).
func (s *Store) ConsumeAuthRequest(ctx context.Context, state string) (AuthRequest, error) {
	h := stateHash(state)
	var r AuthRequest
	var verifier []byte
	var tenant *string
	var used *time.Time
	var expired bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT partner_id, kind, tenant_id::text, code_verifier, redirect_uri, used_at, expires_at < now()
			FROM auth_requests WHERE state_hash = $1 FOR UPDATE`, h).
			Scan(&r.PartnerID, &r.Kind, &tenant, &verifier, &r.RedirectURI, &used, &expired)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrUnknownState
		case err != nil:
			return err
		case used != nil:
			return ErrStateUsed
		case expired:
			return ErrStateExpired
		}
		// The verifier is worthless once used: keep no secret longer than needed.
		_, err = tx.Exec(ctx, `UPDATE auth_requests SET used_at = now(), code_verifier = NULL WHERE state_hash = $1`, h)
		return err
	})
	if err != nil {
		return AuthRequest{}, err
	}
	if tenant != nil {
		r.TenantID = *tenant
	}
	if verifier != nil {
		v, err := s.box.Open(verifier, verifierAAD(h))
		if err != nil {
			return AuthRequest{}, err
		}
		r.CodeVerifier = string(v)
	}
	r.State = state
	return r, nil
}
