package control

import (
	"context"
	"errors"
	"fmt"
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
	return st, customerOf(cu), err
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
	stored, err := st.SetRelationship(ctx, tenantID, rel)
	cu := customerOf(stored)
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
	if err == nil {
		err = stillListed(cu)
	}
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

// ConsentLink is a tenant's admin-consent link: single use, and the only
// live one of its tenant (a new link replaces the old).
type ConsentLink struct {
	URL       string
	ExpiresAt time.Time
}

// consentLinkTTL is how long a tenant's administrator has to follow a link.
const consentLinkTTL = 7 * 24 * time.Hour

// ConsentURL creates an admin-consent link for a tenant.
func (c *Control) ConsentURL(ctx context.Context, tenantID string) (ConsentLink, Customer, error) {
	if _, err := c.sealed(ctx); err != nil {
		return ConsentLink{}, Customer{}, err
	}
	st, cu, err := c.customer(ctx, tenantID)
	if err == nil {
		err = stillListed(cu)
	}
	if err != nil {
		return ConsentLink{}, cu, err
	}
	if cu.PartnerID == "" {
		return ConsentLink{}, cu, errors.New("customer " + cu.Name + " is not linked to a partner yet: run `cspsync sync` first")
	}
	creds, err := st.Credentials(ctx, cu.PartnerID)
	if err != nil {
		return ConsentLink{}, cu, err
	}
	state := microsoft.RandomToken()
	redirect := c.redirectURI(config.ConsentCallbackPath)
	expires, err := st.CreateAuthRequest(ctx, store.AuthRequest{State: state, PartnerID: cu.PartnerID, Kind: "consent",
		TenantID: cu.TenantID, RedirectURI: redirect, TTL: consentLinkTTL})
	if err != nil {
		return ConsentLink{}, cu, err
	}
	return ConsentLink{URL: microsoft.AdminConsentURL(creds, cu.TenantID, redirect, state), ExpiresAt: expires}, cu, nil
}

// StartConsent creates a consent link for one of the operator's own tenants.
func (c *Control) StartConsent(ctx context.Context, op Operator, tenantID string) (ConsentLink, Customer, error) {
	_, cu, err := c.customer(ctx, tenantID)
	if err != nil {
		return ConsentLink{}, cu, err
	}
	if cu.PartnerID != op.PartnerID {
		return ConsentLink{}, cu, fmt.Errorf("tenant %s is not a tenant of partner %s, whose operator you signed in as", tenantID, op.PartnerID)
	}
	return c.ConsentURL(ctx, tenantID)
}

// ErrConsentNotConfirmed means the callback is not Microsoft's answer to an
// accepted consent (no admin_consent=True with a tenant).
var ErrConsentNotConfirmed = errors.New("the answer from Microsoft does not confirm admin consent for this tenant")

// ConsentNotHeld means Microsoft does not hold the consent a callback
// claimed: the multi-tenant app cannot read the tenant. The tenant stays as
// it was and the link stays valid, so the callback can be retried.
type ConsentNotHeld struct {
	domain.ErrorInfo
	LinkExpires time.Time
}

func (e *ConsentNotHeld) Error() string {
	return "Microsoft does not confirm the admin consent: " + e.Code + ": " + e.Cause
}

// CompleteConsent handles a consent callback. The state must be one cspsync
// issued for that very tenant (a callback naming another tenant leaves it
// unused). Microsoft's refusal is recorded and uses the state up; an
// accepted consent is confirmed with Microsoft before it is recorded.
func (c *Control) CompleteConsent(ctx context.Context, cb Callback) (Customer, error) {
	cb = cb.clean()
	st, err := c.db(ctx)
	if err != nil {
		return Customer{}, err
	}
	req, err := c.authRequest(ctx, cb.State, "consent", st.PendingAuthRequest)
	if err != nil {
		return Customer{}, err
	}
	stored, err := st.GetCustomerByTenant(ctx, req.TenantID)
	if err != nil {
		return Customer{TenantID: req.TenantID}, err
	}
	cu := customerOf(stored)
	if cb.Tenant != "" && !strings.EqualFold(cb.Tenant, req.TenantID) {
		return cu, fmt.Errorf("%w: Microsoft's answer is for tenant %s, but this link was made for %s (%s); the link stays valid: open it again and sign in as an administrator of %[3]s",
			ErrBadCallback, cb.Tenant, cu.Name, cu.TenantID)
	}
	if cb.Error != "" {
		if _, err := c.authRequest(ctx, cb.State, "consent", st.ConsumeAuthRequest); err != nil {
			return cu, err
		}
		r := cb.refusal(domain.OpConsent)
		if err := st.RecordError(ctx, req.PartnerID, req.TenantID, domain.OpConsent, r.ErrorInfo); err != nil {
			return cu, err
		}
		return cu, r
	}
	if !strings.EqualFold(cb.AdminConsent, "true") || cb.Tenant == "" {
		return cu, ErrConsentNotConfirmed
	}
	if err := c.confirmConsent(ctx, st, cu, req.PartnerID); err != nil {
		return cu, err
	}
	if _, err := c.authRequest(ctx, cb.State, "consent", st.ConsumeAuthRequest); err != nil {
		return cu, err
	}
	return c.SetConsent(ctx, req.TenantID, true)
}

// confirmConsent asks Microsoft whether the consent is real: the
// multi-tenant app gets an app-only token for the tenant and reads its
// organization. A refusal is recorded as the tenant's consent error.
func (c *Control) confirmConsent(ctx context.Context, st *store.Store, cu Customer, partnerID string) error {
	creds, err := st.Credentials(ctx, partnerID)
	if err != nil {
		return err
	}
	auth, err := c.microsoft(ctx)
	if err != nil {
		return err
	}
	_, err = auth.Organization(ctx, creds, cu.TenantID)
	if err == nil {
		return nil
	}
	info := microsoft.Classify(err).For(domain.OpConsent).Info()
	if err := st.RecordError(ctx, partnerID, cu.TenantID, domain.OpConsent, info); err != nil {
		return err
	}
	links, err := st.LiveConsentLinks(ctx, partnerID)
	if err != nil {
		return err
	}
	return &ConsentNotHeld{ErrorInfo: info, LinkExpires: links[cu.TenantID]}
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
			out = append(out, customerOf(cu))
		}
	}
	return out, nil
}

// stillListed refuses work for a tenant Partner Center no longer lists: its
// workflow has ended.
func stillListed(cu Customer) error {
	if cu.LeftAt == nil {
		return nil
	}
	return fmt.Errorf("%s (%s) has left Partner Center: %s", cu.Name, cu.TenantID, domain.LeftReason(*cu.LeftAt))
}

// workingTenants lists the partner's tenants that Partner Center still lists.
func (c *Control) workingTenants(ctx context.Context, partnerID string) ([]Customer, error) {
	all, err := c.Customers(ctx, partnerID, true)
	out := all[:0]
	for _, cu := range all {
		if cu.LeftAt == nil {
			out = append(out, cu)
		}
	}
	return out, err
}

// SetCustomerTenant assigns a tenant id by hand; discovery never changes it.
func (c *Control) SetCustomerTenant(ctx context.Context, customerID, tenantID string) error {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return err
	}
	return st.SetCustomerTenant(ctx, id, strings.TrimSpace(tenantID))
}

// Errors lists integration errors, newest first; open only unless all; never nil.
func (c *Control) Errors(ctx context.Context, partnerID string, all bool) ([]IntegrationError, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	errs, err := st.ListErrors(ctx, partnerID, all)
	return mapAll(errs, integrationErrorOf), err
}

// TenantRow is one tenant on the tenants page.
type TenantRow struct {
	Customer
	Error       *IntegrationError // the latest open error of the tenant
	LinkExpires *time.Time        // when its live consent link expires, if it has one
	Users       UserSummary       // its PSA users and users round
}

// UserSummary is a customer's PSA users and the state of its users rounds.
type UserSummary struct {
	Active, All int
	Running     *RoundProgress // the round in progress, if any
	LastRoundAt *time.Time
}

// RoundProgress is how far a running users round has come.
type RoundProgress struct {
	Kind         string
	Pages, Users int
	StartedAt    time.Time
}

func userSummaryOf(u store.UserSummary) UserSummary {
	s := UserSummary{Active: u.Active, All: u.All, LastRoundAt: u.LastRoundAt}
	if r := u.Running; r != nil {
		s.Running = &RoundProgress{Kind: r.Kind, Pages: r.Pages, Users: r.Users, StartedAt: r.StartedAt}
	}
	return s
}

// Tenants lists a partner's tenants (every partner's when partnerID is
// empty) with the latest open error of each, those waiting for consent
// first: they are why someone opens the page; those that left Partner
// Center last.
func (c *Control) Tenants(ctx context.Context, partnerID string) ([]TenantRow, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	customers, err := c.Customers(ctx, partnerID, true)
	if err != nil {
		return nil, err
	}
	errs, err := c.Errors(ctx, partnerID, false)
	if err != nil {
		return nil, err
	}
	links, err := st.LiveConsentLinks(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	users, err := st.UserSummaries(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	latest := map[string]*IntegrationError{}
	for i := range errs {
		if e := &errs[i]; e.TenantID != "" && latest[e.TenantID] == nil {
			latest[e.TenantID] = e
		}
	}
	var waiting, rest, left []TenantRow
	for _, cu := range customers {
		row := TenantRow{Customer: cu, Error: latest[cu.TenantID], Users: userSummaryOf(users[cu.ID])}
		if t, ok := links[cu.TenantID]; ok && cu.LeftAt == nil {
			row.LinkExpires = &t
		}
		switch {
		case cu.LeftAt != nil:
			left = append(left, row)
		case cu.ConsentState.Missing():
			waiting = append(waiting, row)
		default:
			rest = append(rest, row)
		}
	}
	return append(append(waiting, rest...), left...), nil
}
