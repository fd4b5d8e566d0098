package control

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/workflows"
)

// customer finds the customer linked to a tenant.
func (c *Control) customer(ctx context.Context, tenantID string) (*store.Store, Customer, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, Customer{}, err
	}
	cu, err := st.GetCustomerByTenant(ctx, tenantID)
	return st, cu, err
}

// SetConsent records a tenant's admin consent as granted or revoked and
// signals its workflow. A tenant without a running workflow picks the state
// up from the store when discovery starts it.
func (c *Control) SetConsent(ctx context.Context, tenantID string, granted bool) (Customer, error) {
	st, cu, err := c.customer(ctx, tenantID)
	if err != nil {
		return cu, err
	}
	state := domain.ConsentRevoked
	if granted {
		state = domain.ConsentGranted
	}
	if err := st.SetConsentState(ctx, cu.TenantID, state); err != nil {
		return cu, err
	}
	if granted {
		if err := st.ResolveErrors(ctx, cu.PartnerID, cu.TenantID, domain.OpConsent); err != nil {
			return cu, err
		}
	}
	cu.ConsentState = state
	return cu, c.signalTenant(ctx, cu, func(tc temporalClient, id string) error {
		return workflows.SignalConsent.Send(ctx, tc, id, workflows.ConsentChange{Granted: granted})
	})
}

// SetRelationship overrides a tenant's relationship (DAP or GDAP); the
// running workflow follows at once.
func (c *Control) SetRelationship(ctx context.Context, tenantID, relationship string) (Customer, error) {
	st, err := c.db(ctx)
	if err != nil {
		return Customer{}, err
	}
	rel, err := domain.ParseRelationship(relationship)
	if err != nil {
		return Customer{}, err
	}
	cu, err := st.SetRelationship(ctx, tenantID, rel)
	if err != nil {
		return cu, err
	}
	return cu, c.signalTenant(ctx, cu, func(tc temporalClient, id string) error {
		return workflows.SignalRelationship.Send(ctx, tc, id, workflows.RelationshipChange{Relationship: cu.Relationship})
	})
}

// SyncTenant asks a tenant's workflow to sync now.
func (c *Control) SyncTenant(ctx context.Context, tenantID string) (Customer, error) {
	_, cu, err := c.customer(ctx, tenantID)
	if err != nil {
		return cu, err
	}
	return cu, c.signalTenant(ctx, cu, func(tc temporalClient, id string) error {
		return workflows.SignalSync.Send(ctx, tc, id, struct{}{})
	})
}

func (c *Control) signalTenant(ctx context.Context, cu Customer, send func(tc temporalClient, workflowID string) error) error {
	if cu.PartnerID == "" {
		return nil
	}
	tc, err := c.client(ctx)
	if err != nil {
		return err
	}
	return workflows.IgnoreNotFound(send(tc, workflows.TenantWorkflowID(cu.PartnerID, cu.TenantID)))
}

// ConsentURL creates a single-use admin-consent link for a tenant.
func (c *Control) ConsentURL(ctx context.Context, tenantID string) (string, Customer, error) {
	if _, err := c.sealed(ctx); err != nil {
		return "", Customer{}, err
	}
	st, cu, err := c.customer(ctx, tenantID)
	if err != nil {
		return "", cu, err
	}
	if cu.PartnerID == "" {
		return "", cu, errors.New("customer " + cu.Name + " is not linked to a partner yet: run `cspsync sync` first")
	}
	creds, err := st.Credentials(ctx, cu.PartnerID)
	if err != nil {
		return "", cu, err
	}
	state := microsoft.RandomToken()
	redirect := c.redirectURI(config.ConsentCallbackPath)
	if err := st.CreateAuthRequest(ctx, store.AuthRequest{State: state, PartnerID: cu.PartnerID, Kind: "consent",
		TenantID: cu.TenantID, RedirectURI: redirect, TTL: 7 * 24 * time.Hour}); err != nil {
		return "", cu, err
	}
	return microsoft.AdminConsentURL(creds, cu.TenantID, redirect, state), cu, nil
}

// ErrConsentNotConfirmed means Microsoft's answer does not confirm admin
// consent for the tenant the link was made for.
var ErrConsentNotConfirmed = errors.New("Microsoft's answer does not confirm admin consent for this tenant")

// CompleteConsent records a tenant admin's consent and wakes the tenant's
// workflow. The state must be one cspsync issued for that very tenant.
func (c *Control) CompleteConsent(ctx context.Context, cb Callback) (Customer, error) {
	st, err := c.db(ctx)
	if err != nil {
		return Customer{}, err
	}
	req, err := c.consume(ctx, cb.State, "consent")
	if err != nil {
		return Customer{}, err
	}
	if cb.Error != "" {
		r := cb.refusal(domain.OpConsent)
		if err := st.RecordError(ctx, store.IntegrationError{PartnerID: req.PartnerID, TenantID: req.TenantID,
			Operation: domain.OpConsent, Code: r.Code, Message: r.Cause, Remediation: r.Remediation}); err != nil {
			return Customer{}, err
		}
		return Customer{}, r
	}
	if !strings.EqualFold(cb.AdminConsent, "true") || !strings.EqualFold(cb.Tenant, req.TenantID) {
		return Customer{TenantID: req.TenantID}, ErrConsentNotConfirmed
	}
	return c.SetConsent(ctx, req.TenantID, true)
}

// Customers lists customers by name (one partner's, or all when partnerID
// is empty), only those linked to a tenant when tenantsOnly; never nil.
func (c *Control) Customers(ctx context.Context, partnerID string, tenantsOnly bool) ([]Customer, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	all, err := st.ListCustomers(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	out := make([]Customer, 0, len(all))
	for _, cu := range all {
		if !tenantsOnly || cu.TenantID != "" {
			out = append(out, cu)
		}
	}
	return out, nil
}

// SetCustomerTenant assigns a tenant id by hand; discovery never changes it.
func (c *Control) SetCustomerTenant(ctx context.Context, customerID, tenantID string) error {
	st, err := c.db(ctx)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(customerID, 10, 64)
	if err != nil {
		return fmt.Errorf("customer id %q is not a number: take it from the ID column of `cspsync customers list`", customerID)
	}
	return st.SetCustomerTenant(ctx, id, tenantID)
}

// Errors lists integration errors, newest first; open only unless all; never nil.
func (c *Control) Errors(ctx context.Context, partnerID string, all bool) ([]IntegrationError, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	errs, err := st.ListErrors(ctx, partnerID, all)
	if errs == nil {
		errs = []IntegrationError{}
	}
	return errs, err
}

// TenantRow is one tenant on the tenants page.
type TenantRow struct {
	Customer
	Error *IntegrationError // the latest open error of the tenant
}

// Tenants lists every tenant with its latest open error, those waiting for
// consent first: they are why someone opens the page.
func (c *Control) Tenants(ctx context.Context) ([]TenantRow, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	customers, err := c.Customers(ctx, "", true)
	if err != nil {
		return nil, err
	}
	errs, err := st.ListErrors(ctx, "", false)
	if err != nil {
		return nil, err
	}
	latest := map[string]*IntegrationError{}
	for i := range errs {
		if e := &errs[i]; e.TenantID != "" && latest[e.TenantID] == nil {
			latest[e.TenantID] = e
		}
	}
	var waiting, rest []TenantRow
	for _, cu := range customers {
		row := TenantRow{Customer: cu, Error: latest[cu.TenantID]}
		if cu.ConsentState.Missing() {
			waiting = append(waiting, row)
		} else {
			rest = append(rest, row)
		}
	}
	return append(waiting, rest...), nil
}
