package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/usersync"
	"github.com/cspsync/cspsync/workflows"
)

// Records of users sync the callers render; the store and usersync define them.
type (
	UserRoundResult = workflows.UserRoundResult
	PSAUser         = store.PSAUser
	LogEntry        = store.LogEntry
	Site            = store.Site
	UserSettings    = store.UserSettings
	FieldMapping    = usersync.FieldMapping
)

// UserProgress is where a running users round stands.
type UserProgress struct {
	Kind    string
	Pages   int
	Users   int
	Elapsed time.Duration
}

// SyncUsers runs a cycle of one tenant now (licences, Graph, users); full
// reads every user again instead of the changes. With wait it returns the
// users round once a cycle started after the request has finished,
// reporting progress about every second meanwhile.
func (c *Control) SyncUsers(ctx context.Context, tenantID string, full, wait bool, timeout time.Duration, progress func(UserProgress)) (UserRoundResult, error) {
	st, cu, err := c.customer(ctx, tenantID)
	if err == nil {
		err = stillListed(cu)
	}
	if err != nil {
		return UserRoundResult{}, err
	}
	if cu.PartnerID == "" {
		return UserRoundResult{}, errors.New("customer " + cu.Name + " is not linked to a partner yet: run `cspsync sync` first")
	}
	tc, err := c.client(ctx)
	if err != nil {
		return UserRoundResult{}, err
	}
	id := workflows.TenantWorkflowID(cu.PartnerID, cu.TenantID)
	if !wait {
		if full {
			if _, err := st.ResetDelta(ctx, cu.PartnerID, cu.TenantID); err != nil {
				return UserRoundResult{}, err
			}
		}
		return UserRoundResult{}, workflows.SignalSync.Send(ctx, tc, id, struct{}{})
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	if progress != nil {
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if r, err := st.LastUserRound(ctx, cu.ID); err == nil && r.FinishedAt == nil {
						progress(UserProgress{Kind: r.Kind, Pages: r.Pages, Users: r.Users, Elapsed: time.Since(r.StartedAt)})
					}
				}
			}
		}()
	}
	res, err := workflows.UpdateSyncUsers.Execute(ctx, tc, id, workflows.UserSyncRequest{Full: full})
	if err != nil {
		return res, errors.New(describeUpdateError(ctx, err, timeout))
	}
	return res, nil
}

// ResetDelta forgets the delta links of the partner's tenants (one tenant
// when tenantID is set): their next rounds read every user again.
func (c *Control) ResetDelta(ctx context.Context, partnerID, tenantID string) (int, error) {
	st, err := c.db(ctx)
	if err != nil {
		return 0, err
	}
	if tenantID != "" {
		if _, _, err := c.customer(ctx, tenantID); err != nil {
			return 0, err
		}
	}
	return st.ResetDelta(ctx, partnerID, tenantID)
}

// InboundLog returns a tenant's newest inbound log rows, optionally of one
// user (Azure object id, PSA user id or email); never nil.
func (c *Control) InboundLog(ctx context.Context, tenantID, user string, limit int) ([]LogEntry, error) {
	st, cu, err := c.customer(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	rows, err := st.InboundLog(ctx, cu.ID, strings.TrimSpace(user), limit)
	return orEmpty(rows), err
}

// Users lists a customer's PSA users; never nil.
func (c *Control) Users(ctx context.Context, customerID string) ([]PSAUser, error) {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	us, err := st.ListUsers(ctx, id)
	return orEmpty(us), err
}

// AddUser creates a PSA user by hand: the next users round matches him to
// his Microsoft account by the partner's matching rules.
func (c *Control) AddUser(ctx context.Context, customerID, name, email, login string) (int64, error) {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(name) == "" {
		return 0, errors.New("a user needs a name: --name")
	}
	return st.AddUser(ctx, id, strings.TrimSpace(name), strings.TrimSpace(email), strings.TrimSpace(login))
}

// Sites lists a customer's sites; never nil.
func (c *Control) Sites(ctx context.Context, customerID string) ([]Site, error) {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	ss, err := st.ListSites(ctx, id)
	return orEmpty(ss), err
}

// AddSite adds a site to a customer.
func (c *Control) AddSite(ctx context.Context, customerID, name string) (Site, error) {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return Site{}, err
	}
	return st.AddSite(ctx, id, name)
}

// SiteMapping is one (filter, site) pair as people write it.
type SiteMapping struct {
	Filter string `json:"filter"`
	Site   string `json:"site"`
}

// SiteMappings lists a customer's site mappings in order; never nil.
func (c *Control) SiteMappings(ctx context.Context, customerID string) ([]SiteMapping, error) {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	ms, err := st.SiteMappings(ctx, id)
	out := make([]SiteMapping, 0, len(ms))
	for _, m := range ms {
		out = append(out, SiteMapping{Filter: m.Filter, Site: m.Site})
	}
	return out, err
}

// SetSiteMappings replaces a customer's site mappings. Each filter is
// compiled and type-checked and each site must exist, or nothing changes
// and the error points at the mistake.
func (c *Control) SetSiteMappings(ctx context.Context, customerID string, ms []SiteMapping) error {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return err
	}
	var checked []usersync.SiteMapping
	var stored []store.SiteMapping
	for i, m := range ms {
		site, err := st.SiteByName(ctx, id, m.Site)
		if err != nil {
			return fmt.Errorf("site mapping %d: %w", i+1, err)
		}
		checked = append(checked, usersync.SiteMapping{Filter: m.Filter, SiteID: site.ID})
		stored = append(stored, store.SiteMapping{Filter: m.Filter, SiteID: site.ID})
	}
	if err := usersync.ValidateSiteMappings(checked); err != nil {
		return err
	}
	return st.SetSiteMappings(ctx, id, stored)
}

// GenerateSiteMappings gives every customer of the partner ("" for all)
// with a tenant and no site mapping one unfiltered mapping to its default site.
func (c *Control) GenerateSiteMappings(ctx context.Context, partnerID string) (int, error) {
	st, err := c.db(ctx)
	if err != nil {
		return 0, err
	}
	return st.GenerateSiteMappings(ctx, partnerID)
}

// FieldMappings returns the mappings in force: the defaults with the
// partner's over them and, for a customer (customerID not ""), its own.
func (c *Control) FieldMappings(ctx context.Context, partnerID, customerID string) ([]FieldMapping, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	var cid int64
	if customerID != "" {
		if cid, err = customerNumber(customerID); err != nil {
			return nil, err
		}
	}
	all, err := st.FieldMappings(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	partner, customer := splitMappings(all, cid)
	return usersync.Resolve(partner, customer), nil
}

func splitMappings(all []store.FieldMapping, customerID int64) (partner, customer []FieldMapping) {
	for _, f := range all {
		m := FieldMapping{Field: usersync.Field(f.Field), Expr: f.Expression}
		switch {
		case f.CustomerID == 0:
			partner = append(partner, m)
		case f.CustomerID == customerID:
			customer = append(customer, m)
		}
	}
	return partner, customer
}

// SetFieldMapping maps a PSA field to an expression over the Graph user,
// partner-wide or for one customer; an empty expression falls back to the
// level below. Unknown fields or properties, type errors, and a matching
// rule left without its mapping are refused, with the fix.
func (c *Control) SetFieldMapping(ctx context.Context, partnerID, customerID, field, expr string) error {
	f, err := usersync.ParseField(field)
	if err != nil {
		return err
	}
	m := FieldMapping{Field: f, Expr: strings.TrimSpace(expr)}
	if m.Expr != "" {
		if err := usersync.ValidateMappings([]FieldMapping{m}); err != nil {
			return err
		}
	}
	st, err := c.db(ctx)
	if err != nil {
		return err
	}
	var cid int64
	if customerID != "" {
		if cid, err = customerNumber(customerID); err != nil {
			return err
		}
	}
	all, err := st.FieldMappings(ctx, partnerID)
	if err != nil {
		return err
	}
	settings, err := st.UserSettings(ctx, partnerID)
	if err != nil {
		return err
	}
	// An empty expression removes the stored mapping: the level below applies.
	partner, customer := splitMappings(all, cid)
	set := []FieldMapping{m}
	if m.Expr == "" {
		set = nil
	}
	if cid == 0 {
		partner = append(without(partner, f), set...)
	} else {
		customer = append(without(customer, f), set...)
	}
	if err := usersync.ValidateMatchRules(rulesOf(settings), usersync.Resolve(partner, customer)); err != nil {
		return err
	}
	return st.SetFieldMapping(ctx, partnerID, store.FieldMapping{CustomerID: cid, Field: string(f), Expression: m.Expr})
}

func without(ms []FieldMapping, f usersync.Field) []FieldMapping {
	var out []FieldMapping
	for _, m := range ms {
		if m.Field != f {
			out = append(out, m)
		}
	}
	return out
}

func rulesOf(s UserSettings) []usersync.Field {
	out := make([]usersync.Field, len(s.MatchRules))
	for i, r := range s.MatchRules {
		out[i] = usersync.Field(r)
	}
	return out
}

// UserSettings reads a partner's users-sync settings.
func (c *Control) UserSettings(ctx context.Context, partnerID string) (UserSettings, error) {
	st, err := c.db(ctx)
	if err != nil {
		return UserSettings{}, err
	}
	return st.UserSettings(ctx, partnerID)
}

// SetUserSettings stores a partner's users-sync settings; matching rules
// are checked against the partner's field mappings.
func (c *Control) SetUserSettings(ctx context.Context, partnerID string, s UserSettings) error {
	st, err := c.db(ctx)
	if err != nil {
		return err
	}
	if s.LogRetention < time.Hour {
		return fmt.Errorf("log retention %s is too short: keep at least an hour (720h is 30 days)", s.LogRetention)
	}
	all, err := st.FieldMappings(ctx, partnerID)
	if err != nil {
		return err
	}
	partner, _ := splitMappings(all, 0)
	if err := usersync.ValidateMatchRules(rulesOf(s), usersync.Resolve(partner, nil)); err != nil {
		return err
	}
	return st.SetUserSettings(ctx, partnerID, s)
}

// UsersRounds is what rounds over many tenants did.
type UsersRounds struct {
	Tenants int               `json:"tenants"`
	Total   store.RoundCounts `json:"total"`
	Failed  []TenantFailure   `json:"failed,omitempty"`
}

// SyncAllUsers runs a cycle of every tenant of the partner whose users can
// be read (full: every user again); with wait it returns their users rounds
// once each cycle started after the request has finished. A tenant that
// fails is reported and the others go on.
func (c *Control) SyncAllUsers(ctx context.Context, partnerID string, full, wait bool, timeout time.Duration) (UsersRounds, error) {
	tc, err := c.client(ctx)
	if err != nil {
		return UsersRounds{}, err
	}
	all, err := c.workingTenants(ctx, partnerID)
	if err != nil {
		return UsersRounds{}, err
	}
	var tenants []Customer
	for _, cu := range all {
		if cu.ConsentState.Missing() {
			continue // no Graph access: nothing to ask
		}
		tenants = append(tenants, cu)
	}
	if len(tenants) == 0 {
		return UsersRounds{}, fmt.Errorf("partner %s has no tenant whose users can be read yet: see `cspsync tenants list`", partnerID)
	}
	res := UsersRounds{Tenants: len(tenants)}
	if full {
		if _, err := c.ResetDelta(ctx, partnerID, ""); err != nil {
			return res, err
		}
	}
	res.Failed = askTenants(ctx, tenants, timeout, func(ctx context.Context, id string) (r UserRoundResult, err error) {
		if !wait {
			return r, workflows.SignalSync.Send(ctx, tc, id, struct{}{})
		}
		return workflows.UpdateSyncUsers.Execute(ctx, tc, id, workflows.UserSyncRequest{Full: full})
	}, func(r UserRoundResult) { res.Total.Add(r.RoundCounts) })
	return res, nil
}
