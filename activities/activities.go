// Package activities does cspsync's I/O for the workflows: Partner Center,
// Graph and the PostgreSQL store. Results carry ids and counts only; rows go
// straight to the database.
package activities

import (
	"context"
	"errors"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
)

// Activities carries the dependencies of every activity.
type Activities struct {
	Store   *store.Store
	Auth    *microsoft.Auth
	Tenants TenantControl
	// DiscoveryPageSize is the Partner Center page size (1..500).
	DiscoveryPageSize int
	// UserPageSize is the users/delta page size (1..200; 0 means 200).
	UserPageSize int
}

// fail classifies err, records it as an integration error (one open row per
// cause) and returns the Temporal error the workflow reacts to: transient
// failures retry (honouring Retry-After), all others stop retrying.
func (a *Activities) fail(ctx context.Context, partnerID, tenantID string, op domain.Operation, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	f := microsoft.Classify(err)
	info := f.Info()
	if rerr := a.Store.RecordError(ctx, partnerID, tenantID, op, info); rerr != nil {
		activity.GetLogger(ctx).Error("recording integration error failed", "error", rerr)
	}
	switch {
	case info.Reaction == domain.Reauthorise:
		if serr := a.Store.SetPartnerAuthState(ctx, partnerID, domain.AuthNeedsReauthorisation); serr != nil {
			return serr
		}
	case info.Reaction == domain.AwaitConsent && tenantID != "":
		c, _ := a.Store.GetCustomerByTenant(ctx, tenantID) // none read: no consent was there
		if serr := a.Store.SetConsentState(ctx, tenantID, c.ConsentState.Refused()); serr != nil {
			return serr
		}
	}
	activity.GetLogger(ctx).Warn("classified Microsoft failure", "operation", op, "code", info.Code,
		"reaction", info.Reaction, "tenant", tenantID)
	msg := f.Message
	if msg == "" {
		msg = f.Cause
	}
	if !strings.HasPrefix(msg, f.Code) { // Entra's descriptions already start with their AADSTS code
		msg = f.Code + ": " + msg
	}
	return temporal.NewApplicationErrorWithOptions(msg, string(info.Reaction), temporal.ApplicationErrorOptions{
		NonRetryable:   info.Reaction != domain.Retry,
		NextRetryDelay: f.RetryAfter,
		Details:        []any{info},
	})
}

// credentials reads the partner's credentials for one activity: every
// activity reads them here. A stored secret the key cannot open is
// classified (KeyMismatch, recorded once for the partner, not retried);
// other store errors are retried.
func (a *Activities) credentials(ctx context.Context, partnerID, tenantID string, op domain.Operation) (domain.Credentials, error) {
	creds, err := a.Store.Credentials(ctx, partnerID)
	if errors.Is(err, secrets.ErrDecrypt) {
		return creds, a.fail(ctx, partnerID, tenantID, op, err)
	}
	return creds, err
}

// ErrorInfoOf is the ErrorInfo of a failed activity of op: the one it
// carried, with the reaction its error type names, or else (a timeout, a
// worker lost, an unclassified error after its retries) domain.Internal.
// Callers in workflows set At from the workflow's clock.
func ErrorInfoOf(err error, op domain.Operation) domain.ErrorInfo {
	var appErr *temporal.ApplicationError
	var info domain.ErrorInfo
	if errors.As(err, &appErr) && appErr.HasDetails() && appErr.Details(&info) == nil && info.Code != "" {
		info.Reaction = domain.Reaction(appErr.Type()) // histories recorded before ErrorInfo carried it
		return info
	}
	return domain.Internal(op, err)
}
