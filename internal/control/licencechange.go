package control

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/workflows"
)

// ManageLicences turns cspsync's licence management of a customer on or off, or, with
// elsewhere, records another integration as managing them (which keeps cspsync from
// turning management on). Turning it on for a customer another integration is recorded
// as managing is refused.
func (c *Control) ManageLicences(ctx context.Context, customerID string, on bool, elsewhere string) (LicenceManagement, error) {
	st, cu, err := c.customerByID(ctx, customerID)
	if err != nil {
		return LicenceManagement{}, err
	}
	by := ""
	switch elsewhere = strings.TrimSpace(elsewhere); {
	case elsewhere != "" && strings.EqualFold(elsewhere, licensing.Manager):
		return LicenceManagement{}, fmt.Errorf("--elsewhere names another integration; to let cspsync manage customer %d's licences, use `on`", cu.ID)
	case elsewhere != "":
		by = elsewhere
	case on:
		now, err := st.ManagedBy(ctx, cu.ID)
		if err != nil {
			return LicenceManagement{}, err
		}
		if err := licensing.ManageRefusal(cu.Name, now); err != nil {
			return LicenceManagement{}, err
		}
		by = licensing.Manager
	}
	if err := st.SetManagedBy(ctx, cu.ID, by); err != nil {
		return LicenceManagement{}, err
	}
	return LicenceManagement{CustomerID: cu.ID, Customer: cu.Name, Managed: by == licensing.Manager, ManagedBy: by}, nil
}

// ChangeLicence asks for one licence change: it reads the facts the change is judged on (the
// PSA's records and the user as Graph has him now) and starts the change's workflow with
// them; the workflow's validator refuses at once, with the fix, a change that must not
// start. With wait it returns once the change has finished (or timeout passed).
func (c *Control) ChangeLicence(ctx context.Context, requestedBy, userRef, skuRef string, action licensing.ChangeAction, wait bool, timeout time.Duration) (LicenceChange, error) {
	st, err := c.db(ctx)
	if err != nil {
		return LicenceChange{}, err
	}
	users, err := st.FindLicenceUsers(ctx, strings.TrimSpace(userRef))
	switch {
	case err != nil:
		return LicenceChange{}, err
	case len(users) == 0:
		return LicenceChange{}, fmt.Errorf("no PSA user %q: give the ID `cspsync users list --customer <id>` shows, the user's Azure object id or his email", userRef)
	case len(users) > 1:
		return LicenceChange{}, fmt.Errorf("%d PSA users match %q: give the user's ID from `cspsync users list --customer <id>`", len(users), userRef)
	}
	u := users[0]
	if u.AzureObjectID == "" || u.TenantID == "" {
		return LicenceChange{}, fmt.Errorf("user %s has no Microsoft account linked yet: licences are changed only for users a users round has matched to Microsoft", u.Name)
	}
	l, found, err := st.FindCustomerLicence(ctx, u.CustomerID, strings.TrimSpace(skuRef))
	if err != nil {
		return LicenceChange{}, err
	}
	facts := licensing.ChangeFacts{Action: action, Customer: u.Customer, Managed: u.ManagedBy == licensing.Manager, ManagedBy: u.ManagedBy,
		User: displayUser(u), UserActive: u.Active, Sku: skuRef, SkuHeld: found && !l.Ended, Paid: l.Active, Assigned: l.Consumed}
	skuID, skuName := "", skuRef
	if found {
		skuID, skuName = l.SkuID, l.PartNumber
		facts.Sku = l.PartNumber
		if facts.Running, err = st.ChangeRunning(ctx, u.CustomerID, u.AzureObjectID, l.SkuID); err != nil {
			return LicenceChange{}, err
		}
	}
	// The user as Microsoft has him now: a PSA row may be a round old.
	if facts.Managed && facts.UserActive && facts.SkuHeld {
		creds, err := st.Credentials(ctx, u.PartnerID)
		if err != nil {
			return LicenceChange{}, err
		}
		auth, err := c.microsoft(ctx)
		if err != nil {
			return LicenceChange{}, err
		}
		now, err := auth.UserLicences(ctx, creds, u.TenantID, u.AzureObjectID)
		if err != nil {
			return LicenceChange{}, remedied(err)
		}
		facts.UserInGraph, facts.UsageLocation, facts.UserHoldsSku = now.Found, now.UsageLocation, now.Holds(skuID)
	} else {
		facts.UserInGraph = true // judged on the PSA's facts first
	}
	tc, err := c.client(ctx)
	if err != nil {
		return LicenceChange{}, err
	}
	requestID := uuid.NewString()
	in := workflows.LicenceChangeInput{ID: requestID, PartnerID: u.PartnerID, TenantID: u.TenantID, CustomerID: u.CustomerID,
		Customer: u.Customer, PSAUserID: u.ID, UserID: u.AzureObjectID, UserName: displayUser(u), SkuID: skuID, SkuName: skuName,
		Action: action, RequestedBy: requestedBy, WorkflowID: workflows.LicenceChangeWorkflowID(u.PartnerID, u.AzureObjectID, requestID)}
	view := LicenceChange{ID: requestID, WorkflowID: in.WorkflowID, CustomerID: u.CustomerID, Customer: u.Customer, UserID: u.ID,
		User: in.UserName, SkuID: skuID, Sku: skuName, Action: string(action), RequestedBy: requestedBy, State: "running"}
	if _, err := workflows.StartLicenceChange(ctx, tc, c.cfg.TaskQueue, in, facts); err != nil {
		return view, refusal(err)
	}
	if !wait {
		return view, nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res workflows.LicenceChangeResult
	if err := tc.GetWorkflow(wctx, in.WorkflowID, "").Get(wctx, &res); err != nil {
		return view, fmt.Errorf("licence change %s is still running after %s (`cspsync licences changes` shows its outcome): %w", requestID, timeout, err)
	}
	changes, err := st.ListLicenceChanges(ctx, u.PartnerID, u.CustomerID)
	if err != nil {
		return view, err
	}
	for _, ch := range changes {
		if ch.ID == requestID {
			view = licenceChangeOf(ch)
		}
	}
	if res.Error != nil {
		return view, fmt.Errorf("%s: %s %s", res.Error.Code, res.Error.Cause, res.Error.Remediation)
	}
	return view, nil
}

// refusal is the validator's own words for a refused request.
func refusal(err error) error {
	var failed *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &failed) {
		return errors.New("this licence change was already asked for")
	}
	msg := err.Error()
	for _, prefix := range []string{"update failed: ", "workflow update rejected: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	return errors.New(msg)
}

func displayUser(u store.LicenceUser) string {
	if u.Email != "" {
		return u.Email
	}
	return u.Name
}

// LicenceChanges lists a partner's licence changes, newest first (one customer's when
// customerID is given).
func (c *Control) LicenceChanges(ctx context.Context, partnerID, customerID string) ([]LicenceChange, error) {
	var st *store.Store
	var id int64
	var err error
	if customerID != "" {
		st, id, err = c.forCustomer(ctx, customerID)
	} else {
		st, err = c.db(ctx)
	}
	if err != nil {
		return nil, err
	}
	changes, err := st.ListLicenceChanges(ctx, partnerID, id)
	return mapAll(changes, licenceChangeOf), err
}

// licenceWriteConsent reports whether the Graph app's consent in a tenant covers assigning
// licences, and how to add it when not.
func licenceWriteConsent(ctx context.Context, auth *microsoft.Auth, creds domain.Credentials, tenantID string) error {
	roles, err := auth.AppRoles(ctx, creds, tenantID)
	if err != nil {
		return remedied(err)
	}
	if !microsoft.MayWriteLicences(roles) {
		e, _ := microsoft.Lookup(microsoft.CodeLicenceWriteDenied)
		return fmt.Errorf("%s: %s %s", e.Code, e.Cause, e.Remediation)
	}
	return nil
}

// ChangeCustomerLicence is ChangeLicence as the console's licence form asks it: for a user of
// one of the operator's partner's customers (the PSA user id the form lists), waiting for the
// change to finish so that the page shows its outcome.
func (c *Control) ChangeCustomerLicence(ctx context.Context, partnerID, customerID, requestedBy, userID, skuRef, action string) (LicenceChange, error) {
	st, cu, err := c.customerByID(ctx, customerID)
	if err != nil {
		return LicenceChange{}, err
	}
	if cu.PartnerID != partnerID {
		return LicenceChange{}, ErrNotYours
	}
	switch licensing.ChangeAction(action) {
	case licensing.Assign, licensing.Remove:
	default:
		return LicenceChange{}, fmt.Errorf("licence change %q: choose assign or remove", action)
	}
	users, err := st.FindLicenceUsers(ctx, strings.TrimSpace(userID))
	if err != nil {
		return LicenceChange{}, err
	}
	if len(users) != 1 || users[0].CustomerID != cu.ID {
		return LicenceChange{}, fmt.Errorf("%q is not one of %s's users: pick the user from the customer's list", userID, cu.Name)
	}
	return c.ChangeLicence(ctx, requestedBy, strconv.FormatInt(users[0].ID, 10), skuRef, licensing.ChangeAction(action), true, consoleChangeWait)
}

// consoleChangeWait bounds how long the console's licence form waits for its change: the
// change goes on after it, and the changes list shows its outcome.
const consoleChangeWait = time.Minute
