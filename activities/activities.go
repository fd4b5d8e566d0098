// Package activities does cspsync's I/O for the workflows: Partner Center,
// Graph and the PostgreSQL store. Results carry ids and counts only; rows go
// straight to the database.
package activities

import (
	"context"
	"errors"
	"strings"
	"time"

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
	recTenant := tenantID
	if f.Reaction == domain.Reauthorise || f.Code == microsoft.CodeMembershipRefused || f.Code == microsoft.CodeKeyMismatch {
		recTenant = "" // the partner's credentials, membership or key: one row for the partner, not one per tenant
	}
	rec := store.IntegrationError{PartnerID: partnerID, TenantID: recTenant, Operation: op,
		Code: f.Code, Message: f.Message, Remediation: f.Remediation}
	if rerr := a.Store.RecordError(ctx, rec); rerr != nil {
		activity.GetLogger(ctx).Error("recording integration error failed", "error", rerr)
	}
	switch {
	case f.Reaction == domain.Reauthorise:
		if serr := a.Store.SetPartnerAuthState(ctx, partnerID, domain.AuthNeedsReauthorisation); serr != nil {
			return serr
		}
	case f.Reaction == domain.AwaitConsent && tenantID != "":
		// A consent granted before was revoked; otherwise it was never given.
		state := domain.ConsentPending
		if c, cerr := a.Store.GetCustomerByTenant(ctx, tenantID); cerr == nil && c.ConsentState == domain.ConsentGranted {
			state = domain.ConsentRevoked
		}
		if serr := a.Store.SetConsentState(ctx, tenantID, state); serr != nil {
			return serr
		}
	}
	info := domain.ErrorInfo{Code: f.Code, Cause: f.Cause, Remediation: f.Remediation, At: time.Now()}
	activity.GetLogger(ctx).Warn("classified Microsoft failure", "operation", op, "code", f.Code,
		"reaction", f.Reaction, "tenant", tenantID)
	msg := f.Message
	if !strings.HasPrefix(msg, f.Code) { // Entra's descriptions already start with their AADSTS code
		msg = f.Code + ": " + msg
	}
	return temporal.NewApplicationErrorWithOptions(msg, string(f.Reaction), temporal.ApplicationErrorOptions{
		NonRetryable:   f.Reaction != domain.Retry,
		NextRetryDelay: f.RetryAfter,
		Details:        []any{info},
	})
}

// credentials reads the partner's credentials for one activity. A stored
// secret the key cannot open is classified (KeyMismatch, not retried);
// other store errors are retried.
func (a *Activities) credentials(ctx context.Context, partnerID, tenantID string, op domain.Operation) (domain.Credentials, error) {
	creds, err := a.Store.Credentials(ctx, partnerID)
	if errors.Is(err, secrets.ErrDecrypt) {
		return creds, a.fail(ctx, partnerID, tenantID, op, err)
	}
	return creds, err
}

// ErrorInfoOf extracts the ErrorInfo a failed activity carried, if any, and
// the reaction it asks for.
func ErrorInfoOf(err error) (domain.ErrorInfo, domain.Reaction, bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return domain.ErrorInfo{}, "", false
	}
	var info domain.ErrorInfo
	if appErr.HasDetails() && appErr.Details(&info) == nil {
		return info, domain.Reaction(appErr.Type()), true
	}
	return domain.ErrorInfo{Code: appErr.Type(), Cause: appErr.Error()}, domain.Reaction(appErr.Type()), true
}
