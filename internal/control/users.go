package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/usersync"
	"github.com/cspsync/cspsync/workflows"
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
func (c *Control) SyncUsers(ctx context.Context, tenantID string, full, wait bool, timeout time.Duration, progress func(UserProgress)) (UsersRound, error) {
	st, cu, err := c.customer(ctx, tenantID)
	if err == nil {
		err = stillListed(cu)
	}
	if err != nil {
		return UsersRound{}, err
	}
	if cu.PartnerID == "" {
		return UsersRound{}, errors.New("customer " + cu.Name + " is not linked to a partner yet: run `cspsync sync` first")
	}
	tc, err := c.client(ctx)
	if err != nil {
		return UsersRound{}, err
	}
	id := workflows.TenantWorkflowID(cu.PartnerID, cu.TenantID)
	if !wait {
		if full {
			if _, err := st.ResetDelta(ctx, cu.PartnerID, cu.TenantID); err != nil {
				return UsersRound{}, err
			}
		}
		return UsersRound{}, workflows.SignalSync.Send(ctx, tc, id, struct{}{})
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
						progress(UserProgress{Kind: string(r.Kind), Pages: r.Pages, Users: r.Users, Elapsed: time.Since(r.StartedAt)})
					}
				}
			}
		}()
	}
	res, err := workflows.UpdateSyncUsers.Execute(ctx, tc, id, workflows.UserSyncRequest{Full: full})
	if err != nil {
		return usersRoundOf(res), errors.New(describeUpdateError(ctx, err, timeout))
	}
	return usersRoundOf(res), nil
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
	return mapAll(rows, logEntryOf), err
}

// Users lists a customer's PSA users; never nil.
func (c *Control) Users(ctx context.Context, customerID string) ([]PSAUser, error) {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	us, err := st.ListUsers(ctx, id)
	if err != nil {
		return nil, err
	}
	out := mapAll(us, psaUserOf)
	return out, withLicences(ctx, st, id, 0, false, out)
}

// AddUser creates a PSA user by hand: the next users round matches him to
// his Microsoft account by the partner's matching rules. What the PSA would
// refuse from Microsoft (an invalid email, an over-long field, control
// characters) is refused.
func (c *Control) AddUser(ctx context.Context, customerID, name, email, login string) (int64, error) {
	name, email, login, err := psaUser(name, email, login)
	if err != nil {
		return 0, err
	}
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return 0, err
	}
	return st.AddUser(ctx, id, name, email, login)
}

// Sites lists a customer's sites; never nil.
func (c *Control) Sites(ctx context.Context, customerID string) ([]Site, error) {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	ss, err := st.ListSites(ctx, id)
	return mapAll(ss, siteOf), err
}

// AddSite adds a site to a customer.
func (c *Control) AddSite(ctx context.Context, customerID, name string) (Site, error) {
	name, err := operatorText("the site's name", name, maxName)
	if err != nil {
		return Site{}, err
	}
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return Site{}, err
	}
	site, err := st.AddSite(ctx, id, name)
	return siteOf(site), err
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
// and the error points at the mistake. At least one mapping is needed:
// ClearSiteMappings removes them all, on purpose.
func (c *Control) SetSiteMappings(ctx context.Context, customerID string, ms []SiteMapping) error {
	st, cu, err := c.customerByID(ctx, customerID)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		n, err := st.ActiveImportedUsers(ctx, cu.ID)
		if err != nil {
			return err
		}
		return fmt.Errorf("no site mapping given: a customer without site mappings imports no user, and its %d active users from Microsoft "+
			"would be made inactive. Give its mappings as 'FILTER => SITE' (e.g. 'true => Main'), or, to remove them all, "+
			"`cspsync mappings set-sites --customer %d --clear`", n, cu.ID)
	}
	var checked []usersync.SiteMapping
	var stored []store.SiteMapping
	for i, m := range ms {
		filter, err := expression(fmt.Sprintf("site mapping %d's filter", i+1), m.Filter)
		if err != nil {
			return err
		}
		site, err := st.SiteByName(ctx, cu.ID, m.Site)
		if err != nil {
			return fmt.Errorf("site mapping %d: %w", i+1, err)
		}
		checked = append(checked, usersync.SiteMapping{Filter: filter, SiteID: site.ID})
		stored = append(stored, store.SiteMapping{Filter: filter, SiteID: site.ID})
	}
	if err := usersync.ValidateSiteMappings(checked); err != nil {
		return err
	}
	return st.SetSiteMappings(ctx, cu.ID, stored)
}

// InactivationConfirmed is what confirming a customer's inactivations did.
type InactivationConfirmed struct {
	CustomerID int64
	Customer   string
	TenantID   string // "" when no discovery has linked the customer yet
}

// ConfirmInactivation lets the customer's next users round make more of its
// users inactive than the safety brake allows (the InactivationBrake
// error's way on). Only that round: its end clears the confirmation.
func (c *Control) ConfirmInactivation(ctx context.Context, customerID string) (InactivationConfirmed, error) {
	st, cu, err := c.customerByID(ctx, customerID)
	if err != nil {
		return InactivationConfirmed{}, err
	}
	if err := st.ConfirmInactivation(ctx, cu.ID); err != nil {
		return InactivationConfirmed{}, err
	}
	return InactivationConfirmed{CustomerID: cu.ID, Customer: cu.Name, TenantID: cu.TenantID}, nil
}

// ClearedSiteMappings is what clearing a customer's site mappings does.
type ClearedSiteMappings struct {
	CustomerID int64
	Customer   string
	Removed    int // site mappings removed
	// ActiveUsers counts its active users from Microsoft: the rounds make
	// them inactive as they see them (a full round sees them all).
	ActiveUsers int
}

// ClearSiteMappings removes every site mapping of a customer, on purpose:
// its users rounds then import no user and make its users from Microsoft
// inactive. It says how many that is.
func (c *Control) ClearSiteMappings(ctx context.Context, customerID string) (ClearedSiteMappings, error) {
	st, cu, err := c.customerByID(ctx, customerID)
	if err != nil {
		return ClearedSiteMappings{}, err
	}
	ms, err := st.SiteMappings(ctx, cu.ID)
	if err != nil {
		return ClearedSiteMappings{}, err
	}
	n, err := st.ActiveImportedUsers(ctx, cu.ID)
	if err != nil {
		return ClearedSiteMappings{}, err
	}
	return ClearedSiteMappings{CustomerID: cu.ID, Customer: cu.Name, Removed: len(ms), ActiveUsers: n},
		st.SetSiteMappings(ctx, cu.ID, nil)
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
// A customer's are its partner's: partnerID may be "" with a customer.
func (c *Control) FieldMappings(ctx context.Context, partnerID, customerID string) ([]FieldMapping, error) {
	partnerID, cid, err := c.partnerFor(ctx, partnerID, customerID)
	if err != nil {
		return nil, err
	}
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	all, err := st.FieldMappings(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	partner, customer := activities.SplitFieldMappings(all, cid)
	return mapAll(usersync.Resolve(partner, customer), func(m usersync.FieldMapping) FieldMapping {
		return FieldMapping{Field: string(m.Field), Expression: m.Expr}
	}), nil
}

// SetFieldMapping maps a PSA field to an expression over the Graph user,
// partner-wide or for one customer; an empty expression falls back to the
// level below. Unknown fields or properties, type errors, and a matching
// rule left without its mapping are refused, with the fix, as are a
// customer that does not exist and a partner that is not the customer's
// (partnerID may be "" with a customer: its partner).
func (c *Control) SetFieldMapping(ctx context.Context, partnerID, customerID, field, expr string) error {
	f, err := usersync.ParseField(field)
	if err != nil {
		return err
	}
	if expr, err = expression("the expression", expr); err != nil {
		return err
	}
	m := usersync.FieldMapping{Field: f, Expr: expr}
	if m.Expr != "" {
		if err := usersync.ValidateMappings([]usersync.FieldMapping{m}); err != nil {
			return err
		}
	}
	partnerID, cid, err := c.partnerFor(ctx, partnerID, customerID)
	if err != nil {
		return err
	}
	st, err := c.db(ctx)
	if err != nil {
		return err
	}
	return st.ChangeFieldMapping(ctx, partnerID, store.FieldMapping{CustomerID: cid, Field: string(f), Expression: m.Expr},
		func(settings store.UserSettings, all []store.FieldMapping) error {
			return usersync.ValidateMatchRules(activities.MatchRules(settings), usersync.Resolve(activities.SplitFieldMappings(all, cid)))
		})
}

// UserSettings reads a partner's users-sync settings.
func (c *Control) UserSettings(ctx context.Context, partnerID string) (UserSettings, error) {
	st, err := c.db(ctx)
	if err != nil {
		return UserSettings{}, err
	}
	s, err := st.UserSettings(ctx, partnerID)
	if err != nil {
		return UserSettings{}, err
	}
	out := userSettingsOf(s)
	return out, billingSettings(ctx, st, partnerID, &out)
}

// UserSettingsChange changes some of a partner's users-sync settings; the
// settings left nil stay as they are.
type UserSettingsChange struct {
	MatchRules           []string // nil: unchanged; ordered rules, each name, email or network_login
	IgnoreAccountEnabled *bool
	AutoSiteMappings     *bool
	LogRetention         *time.Duration
	MaxInactivateShare   *int // percent, 1 to 100
}

// ChangeUserSettings applies a change to a partner's users-sync settings in
// one step (a concurrent change of another setting is kept) and returns the
// settings then in force. Matching rules are checked against the partner's
// field mappings; a refused change changes nothing.
func (c *Control) ChangeUserSettings(ctx context.Context, partnerID string, ch UserSettingsChange) (UserSettings, error) {
	if ch.LogRetention != nil && *ch.LogRetention < time.Hour {
		return UserSettings{}, fmt.Errorf("log retention %s is too short: keep at least an hour (720h is 30 days)", *ch.LogRetention)
	}
	if ch.MaxInactivateShare != nil {
		if err := usersync.ValidateMaxInactivateShare(*ch.MaxInactivateShare); err != nil {
			return UserSettings{}, err
		}
	}
	st, err := c.db(ctx)
	if err != nil {
		return UserSettings{}, err
	}
	s, err := st.ChangeUserSettings(ctx, partnerID, func(s *store.UserSettings, all []store.FieldMapping) error {
		if ch.MatchRules != nil {
			s.MatchRules = ch.MatchRules
		}
		if ch.IgnoreAccountEnabled != nil {
			s.IgnoreAccountEnabled = *ch.IgnoreAccountEnabled
		}
		if ch.AutoSiteMappings != nil {
			s.AutoSiteMappings = *ch.AutoSiteMappings
		}
		if ch.LogRetention != nil {
			s.LogRetention = *ch.LogRetention
		}
		if ch.MaxInactivateShare != nil {
			s.MaxInactivateShare = *ch.MaxInactivateShare
		}
		partner, _ := activities.SplitFieldMappings(all, 0)
		return usersync.ValidateMatchRules(activities.MatchRules(*s), usersync.Resolve(partner, nil))
	})
	if err != nil {
		return UserSettings{}, err
	}
	out := userSettingsOf(s)
	return out, billingSettings(ctx, st, partnerID, &out)
}

// SyncAllUsers runs a cycle of every tenant of the partner whose users can
// be read (full: every user again); with wait it returns their users rounds
// once each cycle started after the request has finished. A tenant that
// fails is reported and the others go on.
func (c *Control) SyncAllUsers(ctx context.Context, partnerID string, full, wait bool, timeout time.Duration) (UsersRounds, error) {
	tc, err := c.client(ctx)
	if err != nil {
		return UsersRounds{Failed: []TenantFailure{}}, err
	}
	all, err := c.workingTenants(ctx, partnerID)
	if err != nil {
		return UsersRounds{Failed: []TenantFailure{}}, err
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
	res.Failed = askTenants(ctx, tenants, timeout, func(ctx context.Context, id string) (r workflows.UserRoundResult, err error) {
		if !wait {
			return r, workflows.SignalSync.Send(ctx, tc, id, struct{}{})
		}
		return workflows.UpdateSyncUsers.Execute(ctx, tc, id, workflows.UserSyncRequest{Full: full})
	}, func(r workflows.UserRoundResult) { res.Total.add(r.RoundCounts) })
	return res, nil
}
