package control

import (
	"context"
	"fmt"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/workflows"
)

// Rotated counts what a key rotation re-sealed.
type Rotated struct {
	PartnerSecrets int
	TokenCaches    int
	Verifiers      int
}

// Total is the number of values re-sealed, the key check aside.
func (r Rotated) Total() int { return r.PartnerSecrets + r.TokenCaches + r.Verifiers }

// RotateKey re-seals every stored secret (partner client secrets, token
// caches, pending sign-ins' PKCE verifiers) and the key check under the key
// given inline or in newKeyFile, in one transaction. Values open with the
// configured key or the new one, so a repeated rotation completes; after it,
// only the new key opens the data and the worker must run on it.
func (c *Control) RotateKey(ctx context.Context, newKey, newKeyFile string) (Rotated, error) {
	if newKey == "" && newKeyFile == "" {
		return Rotated{}, fmt.Errorf("no new key given: pass --new-key-file with a file holding 32 random bytes in base64 (`openssl rand -base64 32 > new.key`), or --new-key")
	}
	next, err := secrets.Load(newKey, newKeyFile)
	if err != nil {
		return Rotated{}, fmt.Errorf("the new key (--new-key or --new-key-file): %w", err)
	}
	st, err := c.db(ctx)
	if err != nil {
		return Rotated{}, err
	}
	r, err := st.RotateKey(ctx, next)
	return Rotated{PartnerSecrets: r.PartnerSecrets, TokenCaches: r.TokenCaches, Verifiers: r.Verifiers}, err
}

// ForgetUnreadable is the recovery after a lost key: it drops every stored
// value the configured key cannot open (token caches, pending sign-ins,
// partner client secrets) and seals a new key check under the configured
// key. Each partner that lost secrets or tokens is marked as needing
// re-authorisation, with an error saying so, and its workflow pauses its
// tenants until `cspsync connect` and a sign-in bring it back. It returns
// those partners.
func (c *Control) ForgetUnreadable(ctx context.Context) ([]string, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	tc, err := c.client(ctx) // reach Temporal first: the workflows must hear of it
	if err != nil {
		return nil, err
	}
	partners, err := st.ForgetUnreadable(ctx)
	if err != nil {
		return nil, err
	}
	info := microsoft.FromCode(microsoft.CodeSecretsForgotten, 0, "", 0, nil).Info()
	for _, p := range partners {
		if err := st.RecordError(ctx, p, "", domain.OpAuthorise, info); err != nil {
			return partners, err
		}
		if err := workflows.SignalPartner(ctx, tc, c.cfg.TaskQueue, p, workflows.SignalNeedsReauthorisation, info); err != nil {
			return partners, err
		}
	}
	return partners, nil
}
