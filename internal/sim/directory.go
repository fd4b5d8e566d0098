package sim

import (
	"slices"
	"strings"
)

// directory is the live view of the scenario: tenants ("orgs", the partner's included) with
// their users, and the accounts that can sign in. Its shape is fixed after New; the user
// licences, deletions and change versions mutate under Server.mu and are persisted.
type directory struct {
	partner   *org
	customers []*org // scenario order, which is also Partner Center's listing order
	byID      map[string]*org
	byDomain  map[string]*org
	accounts  map[string]*account // by lower-case UPN
	byOID     map[string]*account
	apps      map[string]*App
}

type org struct {
	Tenant
	partner bool
	users   []*dirUser
	// version counts directory changes in the tenant; users delta tokens record it.
	version int64
}

type dirUser struct {
	TenantUser
	version int64 // org version of the user's last change; 0 = as in the scenario
	deleted bool
}

// account is someone who can sign in, with the tenant they belong to.
type account struct {
	User
	home *org
}

func newDirectory(sc Scenario) *directory {
	d := &directory{
		byID: map[string]*org{}, byDomain: map[string]*org{},
		accounts: map[string]*account{}, byOID: map[string]*account{}, apps: map[string]*App{},
	}
	name := sc.PartnerName
	if name == "" {
		name, _, _ = strings.Cut(sc.PartnerDomain, ".")
	}
	d.partner = d.addOrg(Tenant{
		ID: sc.PartnerTenantID, Name: name, Domain: sc.PartnerDomain,
		Users: []TenantUser{{
			ID: sc.Admin.ID, UserPrincipalName: sc.Admin.UPN, DisplayName: sc.Admin.DisplayName,
			Mail: sc.Admin.UPN, AccountEnabled: true, UsageLocation: "US",
		}},
	}, true)
	d.addAccount(sc.Admin, d.partner)
	for _, t := range sc.Tenants {
		o := d.addOrg(t, false)
		d.customers = append(d.customers, o)
		if t.Admin.UPN != "" {
			d.addAccount(t.Admin, o)
		}
	}
	for i := range sc.Apps {
		d.apps[sc.Apps[i].ClientID] = &sc.Apps[i]
	}
	return d
}

func (d *directory) addOrg(t Tenant, partner bool) *org {
	o := &org{Tenant: t, partner: partner}
	for _, u := range t.Users {
		u.AssignedSkuIDs = slices.Clone(u.AssignedSkuIDs)
		o.users = append(o.users, &dirUser{TenantUser: u})
	}
	d.byID[strings.ToLower(t.ID)] = o
	d.byDomain[strings.ToLower(t.Domain)] = o
	return o
}

func (d *directory) addAccount(u User, home *org) {
	a := &account{User: u, home: home}
	d.accounts[strings.ToLower(u.UPN)] = a
	d.byOID[u.ID] = a
}

// isTenantless reports the authority segments that name no tenant; Entra ID picks the tenant
// from the signed-in user (or, for client credentials, the app's home tenant).
func isTenantless(seg string) bool {
	switch strings.ToLower(seg) {
	case "organizations", "common":
		return true
	}
	return false
}

// lookup finds a tenant by GUID or domain, as Entra ID accepts both in authority paths.
func (d *directory) lookup(seg string) *org {
	seg = strings.ToLower(seg)
	if o := d.byID[seg]; o != nil {
		return o
	}
	return d.byDomain[seg]
}

func (d *directory) customer(id string) *org {
	if o := d.byID[strings.ToLower(id)]; o != nil && !o.partner {
		return o
	}
	return nil
}

// canAccess reports whether acct may sign in to (or get tokens for) tenant o: its own tenant,
// or — for the partner's users — any customer tenant, which DAP and GDAP delegate to them.
func (acct *account) canAccess(o *org) bool {
	return acct.home == o || acct.home.partner && !o.partner
}

func (o *org) user(idOrUPN string) *dirUser {
	for _, u := range o.users {
		if !u.deleted && (u.ID == idOrUPN || strings.EqualFold(u.UserPrincipalName, idOrUPN)) {
			return u
		}
	}
	return nil
}

func (o *org) sku(id string) *Sku {
	for i := range o.Skus {
		if strings.EqualFold(o.Skus[i].SkuID, id) {
			return &o.Skus[i]
		}
	}
	return nil
}

func (o *org) consumed(skuID string) int {
	n := 0
	for _, u := range o.users {
		if !u.deleted && slices.Contains(u.AssignedSkuIDs, skuID) {
			n++
		}
	}
	return n
}
