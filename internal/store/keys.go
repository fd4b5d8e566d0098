package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/secrets"
)

// sealedKind is one kind of value sealed at rest. sealedKinds lists every
// one, so the key check, rotation and the recovery after a key loss cover
// the same values; a new sealed column belongs here.
type sealedKind struct {
	what string
	// list returns (partner, key, ciphertext) of each stored value, locked.
	list string
	// set re-seals the value of ($1 partner, $2 key) to $3; forget drops it.
	set, forget string
	aad         func(partner, key string) string
	// authorises: without this value the partner must sign in again.
	authorises bool
	// count is where RotateKey counts the kind.
	count func(*Rotated) *int
}

var sealedKinds = func() []sealedKind {
	var kinds []sealedKind
	for _, col := range []string{"pc_client_secret", "graph_client_secret"} {
		kinds = append(kinds, sealedKind{
			what: "partner secret " + col,
			// An emptied secret is one forgotten after a key loss: nothing to open.
			list:       `SELECT id, '` + col + `', ` + col + ` FROM partners WHERE octet_length(` + col + `) > 0 ORDER BY id FOR UPDATE`,
			set:        `UPDATE partners SET ` + col + ` = $3, updated_at = now() WHERE id = $1 AND $2 = '` + col + `'`,
			forget:     `UPDATE partners SET ` + col + ` = '', updated_at = now() WHERE id = $1 AND $2 = '` + col + `'`,
			aad:        secretAAD,
			authorises: true,
			count:      func(r *Rotated) *int { return &r.PartnerSecrets },
		})
	}
	return append(kinds,
		sealedKind{
			what:       "token cache",
			list:       `SELECT partner_id, cache_key, ciphertext FROM token_caches ORDER BY partner_id, cache_key FOR UPDATE`,
			set:        `UPDATE token_caches SET ciphertext = $3, updated_at = now() WHERE partner_id = $1 AND cache_key = $2`,
			forget:     `DELETE FROM token_caches WHERE partner_id = $1 AND cache_key = $2`,
			aad:        tokenCacheAAD,
			authorises: true,
			count:      func(r *Rotated) *int { return &r.TokenCaches },
		},
		sealedKind{
			what: "PKCE verifier of a pending sign-in",
			list: `SELECT partner_id, encode(state_hash, 'hex'), code_verifier FROM auth_requests
				WHERE code_verifier IS NOT NULL ORDER BY state_hash FOR UPDATE`,
			set:    `UPDATE auth_requests SET code_verifier = $3 WHERE partner_id = $1 AND state_hash = decode($2, 'hex')`,
			forget: `DELETE FROM auth_requests WHERE partner_id = $1 AND state_hash = decode($2, 'hex')`,
			aad: func(_, key string) string {
				h, _ := hex.DecodeString(key)
				return verifierAAD(h)
			},
			count: func(r *Rotated) *int { return &r.Verifiers },
		})
}()

type sealedValue struct {
	kind         *sealedKind
	partner, key string
	ciphertext   []byte
	plaintext    []byte // set when it opened
	openErr      error
}

// sealedValues lists (and locks) every sealed value and tries to open it with box.
func sealedValues(ctx context.Context, tx pgx.Tx, box *secrets.Box) ([]sealedValue, error) {
	var out []sealedValue
	for i := range sealedKinds {
		k := &sealedKinds[i]
		rows, err := tx.Query(ctx, k.list)
		if err != nil {
			return nil, fmt.Errorf("listing %ss: %w", k.what, err)
		}
		var v sealedValue
		_, err = pgx.ForEachRow(rows, []any{&v.partner, &v.key, &v.ciphertext}, func() error {
			v.kind = k
			v.plaintext, v.openErr = box.Open(v.ciphertext, k.aad(v.partner, v.key))
			out = append(out, v)
			v = sealedValue{}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing %ss: %w", k.what, err)
		}
	}
	return out, nil
}

const keyCheckAAD = "key_check"

var keyCheckPlaintext = []byte("cspsync key check")

// lockKeyCheck serialises what writes the key check (first start, rotation,
// recovery); token-cache writes, which only read it, are not held up.
func lockKeyCheck(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `LOCK TABLE key_check IN SHARE ROW EXCLUSIVE MODE`)
	return err
}

// CheckKey verifies that the Box's key is the one the stored data was
// sealed with, by opening the key-check value; it returns
// secrets.ErrWrongKey, with the fix, when it is not. When there is no
// key-check value yet (a new database, or one from before it existed), one
// is written, but only if the key opens every value already stored.
func (s *Store) CheckKey(ctx context.Context) error {
	var verified []byte
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockKeyCheck(ctx, tx); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT sealed FROM key_check`).Scan(&verified)
		if err == nil {
			if _, err := s.box.Open(verified, keyCheckAAD); err != nil {
				return secrets.ErrWrongKey
			}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		values, err := sealedValues(ctx, tx, s.box)
		if err != nil {
			return err
		}
		for _, v := range values {
			if v.openErr != nil {
				return secrets.ErrWrongKey
			}
		}
		verified = s.box.Seal(keyCheckPlaintext, keyCheckAAD)
		_, err = tx.Exec(ctx, `INSERT INTO key_check (sealed) VALUES ($1)`, verified)
		return err
	})
	if err != nil {
		return err
	}
	s.keyCheck.Store(&verified)
	return nil
}

// writeKeyCheck replaces the key-check value with one sealed under box.
func writeKeyCheck(ctx context.Context, tx pgx.Tx, box *secrets.Box) ([]byte, error) {
	sealed := box.Seal(keyCheckPlaintext, keyCheckAAD)
	_, err := tx.Exec(ctx, `INSERT INTO key_check (sealed) VALUES ($1)
		ON CONFLICT (id) DO UPDATE SET sealed = EXCLUDED.sealed, created_at = now()`, sealed)
	return sealed, err
}

// Rotated counts what RotateKey re-sealed.
type Rotated struct {
	PartnerSecrets int
	TokenCaches    int
	Verifiers      int
}

// Total is the number of values re-sealed, the key check aside.
func (r Rotated) Total() int { return r.PartnerSecrets + r.TokenCaches + r.Verifiers }

// RotateKey re-seals every stored secret and the key check under next, in
// one transaction: values open with the current key or with next (so an
// interrupted or repeated rotation completes), and are sealed with next.
// A value neither opens stops it, with nothing changed. Afterwards only
// next opens the data; processes still on the old key fail the key check.
func (s *Store) RotateKey(ctx context.Context, next *secrets.Box) (Rotated, error) {
	var r Rotated
	either := secrets.Join(next, s.box)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockKeyCheck(ctx, tx); err != nil {
			return err
		}
		var check []byte
		err := tx.QueryRow(ctx, `SELECT sealed FROM key_check`).Scan(&check)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err == nil {
			if _, err := either.Open(check, keyCheckAAD); err != nil {
				return secrets.ErrWrongKey
			}
		}
		values, err := sealedValues(ctx, tx, either)
		if err != nil {
			return err
		}
		for _, v := range values {
			if v.openErr != nil {
				return fmt.Errorf("the %s of partner %s opens with neither key, so nothing was rotated: %w", v.kind.what, v.partner, secrets.ErrWrongKey)
			}
			if _, err := tx.Exec(ctx, v.kind.set, v.partner, v.key, next.Seal(v.plaintext, v.kind.aad(v.partner, v.key))); err != nil {
				return fmt.Errorf("re-sealing the %s of partner %s: %w", v.kind.what, v.partner, err)
			}
			*v.kind.count(&r)++
		}
		_, err = writeKeyCheck(ctx, tx, next)
		return err
	})
	return r, err
}

// ForgetUnreadable is the recovery after a lost key: in one transaction it
// drops every stored value the current key cannot open (token caches and
// pending sign-ins are deleted, partner secrets emptied), marks the partners
// that lost secrets or tokens as needing re-authorisation, and seals the key
// check under the current key unless it opens already. It returns those
// partners.
func (s *Store) ForgetUnreadable(ctx context.Context) ([]string, error) {
	var partners []string
	var verified []byte
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockKeyCheck(ctx, tx); err != nil {
			return err
		}
		values, err := sealedValues(ctx, tx, s.box)
		if err != nil {
			return err
		}
		lost := map[string]bool{}
		for _, v := range values {
			if v.openErr == nil {
				continue
			}
			if _, err := tx.Exec(ctx, v.kind.forget, v.partner, v.key); err != nil {
				return fmt.Errorf("dropping the %s of partner %s: %w", v.kind.what, v.partner, err)
			}
			if v.kind.authorises && !lost[v.partner] {
				lost[v.partner] = true
				partners = append(partners, v.partner)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE partners SET auth_state = $2, home_account_id = NULL, updated_at = now()
			WHERE id = ANY($1)`, partners, domain.AuthNeedsReauthorisation); err != nil {
			return err
		}
		// A key check that already opens stays as it is: processes running
		// on this key compare it before they write.
		err = tx.QueryRow(ctx, `SELECT sealed FROM key_check`).Scan(&verified)
		if err == nil {
			if _, oerr := s.box.Open(verified, keyCheckAAD); oerr == nil {
				return nil
			}
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		verified, err = writeKeyCheck(ctx, tx, s.box)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.keyCheck.Store(&verified)
	return partners, nil
}
