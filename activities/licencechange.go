package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
)

// LicenceChangeRequest is one requested licence change: ids and names, no secrets.
type LicenceChangeRequest struct {
	ID          string // the request id
	PartnerID   string
	TenantID    string
	CustomerID  int64
	Customer    string
	PSAUserID   int64
	UserID      string // the user's Azure object id
	UserName    string
	SkuID       string
	SkuName     string
	Action      licensing.ChangeAction
	RequestedBy string
	WorkflowID  string
}

func (r LicenceChangeRequest) wantHeld() bool { return r.Action == licensing.Assign }

// UserLicenceRead is what Graph said of the user and the SKU after the change.
type UserLicenceRead struct {
	Found    bool // the user is still in the tenant
	Holds    bool
	Consumed *int // Graph's consumed units of the SKU
}

// LicenceChangeResult is how a licence change ended.
type LicenceChangeResult struct {
	State   string // done or failed
	Applied bool   // this change's assignLicense call made it; false when Microsoft already agreed
	Holds   *bool  // whether the user holds the SKU in Microsoft now, when known
	Error   *domain.ErrorInfo
}

// BeginLicenceChange records the change as running. Another running change of the same
// user and SKU ends this one at once.
func (a *Activities) BeginLicenceChange(ctx context.Context, r LicenceChangeRequest) error {
	err := a.Store.BeginLicenceChange(ctx, store.LicenceChange{ID: r.ID, PartnerID: r.PartnerID, CustomerID: r.CustomerID,
		PSAUserID: r.PSAUserID, AzureObjectID: r.UserID, UserName: r.UserName, SkuID: r.SkuID, SkuName: r.SkuName,
		Action: string(r.Action), RequestedBy: r.RequestedBy, WorkflowID: r.WorkflowID})
	if errors.Is(err, store.ErrChangeRunning) {
		info := domain.ErrorInfo{Code: "LicenceChangeRunning", Cause: "The same licence change is already running for this user.",
			Remediation: "Wait for it to finish (`cspsync licences changes`); nothing was done by this request.", Reaction: domain.NeedsFix}
		return temporal.NewNonRetryableApplicationError(info.Cause, string(info.Reaction), err, info)
	}
	return err
}

// ApplyLicenceChange makes the change in Microsoft unless Microsoft already agrees, so a
// retry after a lost worker or a lost answer never applies it twice. It reports whether it
// called assignLicense.
func (a *Activities) ApplyLicenceChange(ctx context.Context, r LicenceChangeRequest) (bool, error) {
	creds, err := a.credentials(ctx, r.PartnerID, r.TenantID, domain.OpLicenceChange)
	if err != nil {
		return false, err
	}
	now, err := a.Auth.UserLicences(ctx, creds, r.TenantID, r.UserID)
	if err != nil {
		return false, a.fail(ctx, r.PartnerID, r.TenantID, domain.OpLicenceChange, err)
	}
	if !now.Found {
		return false, a.fail(ctx, r.PartnerID, r.TenantID, domain.OpLicenceChange,
			microsoft.FromCode("Request_ResourceNotFound", 404, "The user "+r.UserName+" is no longer in the tenant.", 0, nil))
	}
	if now.Holds(r.SkuID) == r.wantHeld() {
		return false, nil
	}
	add, remove := []string{}, []string{}
	if r.wantHeld() {
		add = append(add, r.SkuID)
	} else {
		remove = append(remove, r.SkuID)
	}
	if err := a.Auth.AssignLicence(ctx, creds, r.TenantID, r.UserID, add, remove); err != nil {
		return false, a.fail(ctx, r.PartnerID, r.TenantID, domain.OpLicenceChange, err)
	}
	return true, nil
}

// ReadUserLicence reads back whether the user holds the SKU and how many units Graph counts
// as consumed.
func (a *Activities) ReadUserLicence(ctx context.Context, r LicenceChangeRequest) (UserLicenceRead, error) {
	creds, err := a.credentials(ctx, r.PartnerID, r.TenantID, domain.OpLicenceChange)
	if err != nil {
		return UserLicenceRead{}, err
	}
	now, err := a.Auth.UserLicences(ctx, creds, r.TenantID, r.UserID)
	if err != nil {
		return UserLicenceRead{}, a.fail(ctx, r.PartnerID, r.TenantID, domain.OpLicenceChange, err)
	}
	read := UserLicenceRead{Found: now.Found, Holds: now.Holds(r.SkuID)}
	consumed, ok, err := a.Auth.SkuConsumed(ctx, creds, r.TenantID, r.SkuID)
	if err != nil {
		return UserLicenceRead{}, a.fail(ctx, r.PartnerID, r.TenantID, domain.OpLicenceChange, err)
	}
	if ok {
		read.Consumed = &consumed
	}
	return read, nil
}

// LicenceChangeEnd is what the workflow learned: whether its call applied the change, the
// failure that stopped it, and what Microsoft holds now (nil when it could not be read).
type LicenceChangeEnd struct {
	Applied bool
	Failure *domain.ErrorInfo
	Read    *UserLicenceRead
}

// FinishLicenceChange decides the change's outcome from what Microsoft holds and writes it:
// the PSA's licence link and consumed units follow Microsoft, whatever the outcome, so both
// sides agree; a change Microsoft does not show is failed, with its cause and fix.
func (a *Activities) FinishLicenceChange(ctx context.Context, r LicenceChangeRequest, end LicenceChangeEnd) (LicenceChangeResult, error) {
	res := LicenceChangeResult{State: "done", Applied: end.Applied, Error: end.Failure}
	out := store.ChangeOutcome{Applied: end.Applied, Failure: end.Failure}
	if end.Read != nil && end.Read.Found {
		holds := end.Read.Holds
		res.Holds, out.Holds, out.Consumed = &holds, &holds, end.Read.Consumed
		if res.Error == nil && holds != r.wantHeld() {
			info := microsoft.FromCode(microsoft.CodeLicenceNotVerified, 0, "", 0, nil).Info()
			res.Error = &info
		}
	}
	if res.Error == nil && (end.Read == nil || !end.Read.Found) {
		info := microsoft.FromCode("Request_ResourceNotFound", 404, "The user "+r.UserName+" is no longer in the tenant.", 0, nil).Info()
		res.Error = &info
	}
	if res.Error != nil {
		res.State, out.Failure = "failed", res.Error
	}
	if err := a.Store.FinishLicenceChange(ctx, r.ID, out); err != nil {
		return res, err
	}
	if res.Error == nil {
		if err := a.Store.ResolveErrors(ctx, r.PartnerID, r.TenantID, domain.OpLicenceChange); err != nil {
			return res, err
		}
	}
	return res, nil
}
