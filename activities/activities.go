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

	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
)

// Application-error types the workflows switch on (see microsoft.Reaction).
const (
	ErrTransient    = string(microsoft.Retry)
	ErrAwaitConsent = string(microsoft.AwaitConsent)
	ErrReauthorise  = string(microsoft.Reauthorise)
	ErrNeedsFix     = string(microsoft.NeedsFix)
	ErrDegrade      = string(microsoft.Degrade)
)

// ErrorInfo is a classified failure as workflows and status displays see
// it: Microsoft's code and cspsync's remediation, never a secret.
type ErrorInfo struct {
	Code        string
	Cause       string
	Remediation string
	At          time.Time
}

// Activities carries the dependencies of every activity.
type Activities struct {
	Store   *store.Store
	Auth    *microsoft.Auth
	Tenants TenantControl
	// DiscoveryPageSize is the Partner Center page size (1..500).
	DiscoveryPageSize int
}

// fail classifies err, records it as an integration error (one open row per
// cause) and returns the Temporal error the workflow reacts to: transient
// failures retry (honouring Retry-After), all others stop retrying.
func (a *Activities) fail(ctx context.Context, partnerID, tenantID, operation string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	f := microsoft.Classify(err)
	recTenant := tenantID
	if f.Reaction == microsoft.Reauthorise {
		recTenant = "" // the partner's credentials: one row for the partner, not one per tenant
	}
	rec := store.IntegrationError{PartnerID: partnerID, TenantID: recTenant, Operation: operation,
		Code: f.Code, Message: f.Message, Remediation: f.Remediation}
	if rerr := a.Store.RecordError(ctx, rec); rerr != nil {
		activity.GetLogger(ctx).Error("recording integration error failed", "error", rerr)
	}
	switch {
	case f.Reaction == microsoft.Reauthorise:
		if serr := a.Store.SetPartnerAuthState(ctx, partnerID, store.AuthNeedsReauthorisation); serr != nil {
			return serr
		}
	case f.Reaction == microsoft.AwaitConsent && tenantID != "":
		// A consent granted before was revoked; otherwise it was never given.
		state := store.ConsentPending
		if c, cerr := a.Store.GetCustomerByTenant(ctx, tenantID); cerr == nil && c.ConsentState == store.ConsentGranted {
			state = store.ConsentRevoked
		}
		if serr := a.Store.SetConsentState(ctx, tenantID, state); serr != nil {
			return serr
		}
	}
	info := ErrorInfo{Code: f.Code, Cause: f.Cause, Remediation: f.Remediation, At: time.Now()}
	activity.GetLogger(ctx).Warn("classified Microsoft failure", "operation", operation, "code", f.Code,
		"reaction", f.Reaction, "tenant", tenantID)
	msg := f.Message
	if !strings.HasPrefix(msg, f.Code) { // Entra's descriptions already start with their AADSTS code
		msg = f.Code + ": " + msg
	}
	return temporal.NewApplicationErrorWithOptions(msg, string(f.Reaction), temporal.ApplicationErrorOptions{
		NonRetryable:   f.Reaction != microsoft.Retry,
		NextRetryDelay: f.RetryAfter,
		Details:        []any{info},
	})
}

// ErrorInfoOf extracts the ErrorInfo a failed activity carried, if any.
func ErrorInfoOf(err error) (ErrorInfo, string, bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return ErrorInfo{}, "", false
	}
	var info ErrorInfo
	if appErr.HasDetails() && appErr.Details(&info) == nil {
		return info, appErr.Type(), true
	}
	return ErrorInfo{Code: appErr.Type(), Cause: appErr.Error()}, appErr.Type(), true
}
