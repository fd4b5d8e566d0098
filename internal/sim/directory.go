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
	byGDAPID  map[string]*org     // GDAP customers by their relationship's id
	accounts  map[string]*account // by lower-case UPN
	byOID     map[string]*account
	apps      map[string]*App
}

type org struct {
	Tenant
	partner bool
	// users are in creation order, purged ones included as tombstones, so that paging and
	// delta cursors (indexes into users) keep their place while the directory changes.
	users  []*dirUser
	byID   map[string]*dirUser // users not purged, by id
	byUPN  map[string]*dirUser // live users, by lower-case UPN
	live   int                 // users neither deleted nor purged
	groups map[string]memberObject
	// noLicenceWrite: the admin consent lacks LicenseAssignment.ReadWrite.All.
	noLicenceWrite bool
	// version counts directory changes in the tenant; delta tokens record it. changes lists
	// users by the version of a change, ascending; an entry is current while it carries the
	// user's version, and superseded entries are compacted away.
	version int64
	changes []userVersion
	// memberChanges logs group membership changes (groups.go) by version; groupCreated the
	// version that created a runtime group (scenario groups: 0).
	memberChanges []memberChange
	groupCreated  map[string]int64
	// gdapID is the id of the partner's GDAP relationship with a GDAP customer, derived once:
	// an access assignments request finds its relationship by it without deriving every one.
	gdapID string
}

type userVersion struct {
	version int64
	user    *dirUser
}

// memberObject is what a user's memberOf lists: a group or a directory role.
type memberObject struct {
	group *Group
	role  *DirectoryRole
}

type dirUser struct {
	TenantUser
	created int64 // org version of the user's creation; 0 = in the scenario
	version int64 // org version of the user's last change; 0 = as in the scenario
	// deleted users are soft-deleted (restorable, delta reason "changed"); purged ones are
	// permanently deleted (delta reason "deleted").
	deleted bool
	purged  bool
	// changed holds the version of each property's last runtime change (allProps: of every
	// property), so that delta rounds send an updated user with only the properties changed
	// since their token, as Graph does. Most users never change: nil costs nothing.
	changed []propChange
}

type propChange struct {
	prop    uint8 // index into userProps, or allProps
	version int64
}

// allProps marks every property changed: a restored user (clients saw him removed) or one
// from a state file that did not record which properties changed.
const allProps = 0xff

func (u *dirUser) alive() bool { return !u.deleted && !u.purged }

// snapshot copies u before an edit, for touch to tell which properties the edit changed.
func (u *dirUser) snapshot() dirUser {
	c := *u
	c.TenantUser = cloneUser(u.TenantUser)
	return c
}

// markChanged records a change of property prop (or allProps) at version v.
func (u *dirUser) markChanged(prop uint8, v int64) {
	if prop == allProps {
		u.changed = append(u.changed[:0], propChange{allProps, v})
		return
	}
	for i := range u.changed {
		if u.changed[i].prop == prop {
			u.changed[i].version = v
			return
		}
	}
	u.changed = append(u.changed, propChange{prop, v})
}

// changedSince reports whether property prop changed after version v.
func (u *dirUser) changedSince(prop int, v int64) bool {
	for _, c := range u.changed {
		if (int(c.prop) == prop || c.prop == allProps) && c.version > v {
			return true
		}
	}
	return false
}

// everChanged reports whether property prop changed at runtime (a change of every property,
// as a restore makes, aside): users/delta's default mode sends such a property null once it
// has no value, and leaves out one that was never set.
func (u *dirUser) everChanged(prop int) bool {
	for _, c := range u.changed {
		if int(c.prop) == prop {
			return true
		}
	}
	return false
}

// account is someone who can sign in, with the tenant they belong to and the object ids of
// their groups there.
type account struct {
	User
	home   *org
	groups []string
}

func newDirectory(sc Scenario) *directory {
	d := &directory{
		byID: map[string]*org{}, byDomain: map[string]*org{}, byGDAPID: map[string]*org{},
		accounts: map[string]*account{}, byOID: map[string]*account{}, apps: map[string]*App{},
	}
	name := sc.PartnerName
	if name == "" {
		name, _, _ = strings.Cut(sc.PartnerDomain, ".")
	}
	people := append([]User{sc.Admin}, sc.PartnerUsers...)
	var users []TenantUser
	for _, u := range people {
		users = append(users, TenantUser{
			ID: u.ID, UserPrincipalName: u.UPN, DisplayName: u.DisplayName,
			Mail: u.UPN, AccountEnabled: true, UsageLocation: "US",
		})
	}
	d.partner = d.addOrg(Tenant{ID: sc.PartnerTenantID, Name: name, Domain: sc.PartnerDomain, Users: users}, true)
	for _, u := range people {
		d.addAccount(u, d.partner)
	}
	for _, g := range sc.PartnerGroups {
		for _, m := range g.Members {
			if a := d.byOID[m]; a != nil {
				a.groups = append(a.groups, g.ID)
			}
		}
	}
	for _, t := range sc.Tenants {
		o := d.addOrg(t, false)
		d.customers = append(d.customers, o)
		if o.Relationship == RelationshipGDAP {
			o.gdapID = derivedUUID("gdap", o.ID) + "-" + derivedUUID("gdap-customer", o.ID)
			d.byGDAPID[o.gdapID] = o
		}
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
	o := &org{Tenant: t, partner: partner, users: make([]*dirUser, 0, len(t.Users)),
		byID: make(map[string]*dirUser, len(t.Users)), byUPN: make(map[string]*dirUser, len(t.Users)),
		groups: map[string]memberObject{}}
	o.Tenant.Users = nil // the directory holds them; Server.snapshot rebuilds the list
	for i := range t.Groups {
		o.groups[t.Groups[i].ID] = memberObject{group: &t.Groups[i]}
	}
	for i := range t.DirectoryRoles {
		o.groups[t.DirectoryRoles[i].ID] = memberObject{role: &t.DirectoryRoles[i]}
	}
	for _, u := range t.Users {
		o.add(&dirUser{TenantUser: cloneUser(u)})
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

// cloneUser copies u so that no slice is shared with the caller's scenario.
func cloneUser(u TenantUser) TenantUser {
	u.AssignedSkuIDs = slices.Clone(u.AssignedSkuIDs)
	u.OtherMails = slices.Clone(u.OtherMails)
	u.ProxyAddresses = slices.Clone(u.ProxyAddresses)
	u.MemberOf = slices.Clone(u.MemberOf)
	u.LastSignIn = clonePtr(u.LastSignIn)
	u.LastNonInteractiveSignIn = clonePtr(u.LastNonInteractiveSignIn)
	u.OnPremisesSyncEnabled = clonePtr(u.OnPremisesSyncEnabled)
	return u
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// add appends a user to the tenant (at New, or created at runtime).
func (o *org) add(u *dirUser) {
	o.users = append(o.users, u)
	o.byID[u.ID] = u
	if u.alive() {
		o.byUPN[strings.ToLower(u.UserPrincipalName)] = u
		o.live++
	}
}

// user finds a live user by id or UPN, as Graph's /users/{id | userPrincipalName} does.
func (o *org) user(idOrUPN string) *dirUser {
	if u := o.byID[idOrUPN]; u != nil && u.alive() {
		return u
	}
	return o.byUPN[strings.ToLower(idOrUPN)]
}

// touch records a change to u (the caller holds Server.mu and has already changed u; before
// is u as it was). Users changed after a delta round began are reported by the next round.
func (o *org) touch(u *dirUser, before *dirUser) {
	o.version++
	u.version = o.version
	o.changes = append(o.changes, userVersion{o.version, u})
	wasAlive := before.alive()
	if !wasAlive && u.alive() {
		u.markChanged(allProps, o.version)
	} else {
		var a, b []byte
		for i, p := range userProps {
			var okA, okB bool
			a, okA = p.value(a[:0], before)
			b, okB = p.value(b[:0], u)
			// Properties compare as Graph writes them, so derived ones (mailNickname from the
			// UPN, creationType from userType) change with their source.
			if okA != okB || string(a) != string(b) {
				u.markChanged(uint8(i), o.version)
			}
		}
	}
	if wasAlive != u.alive() {
		o.logMembership(u) // groups/delta reports a deleted member removed, a restored one back
	}
	switch alive := u.alive(); {
	case wasAlive && !alive:
		o.live--
		delete(o.byUPN, strings.ToLower(u.UserPrincipalName))
	case !wasAlive && alive:
		o.live++
		o.byUPN[strings.ToLower(u.UserPrincipalName)] = u
	}
	if u.purged {
		delete(o.byID, u.ID)
	}
	if len(o.changes) > 64 && len(o.changes) > 2*len(o.users) {
		o.changes = slices.DeleteFunc(o.changes, func(c userVersion) bool { return c.version != c.user.version })
	}
}

// changedSince returns the index in o.changes of the first change after version v.
func (o *org) changedSince(v int64) int {
	i, _ := slices.BinarySearchFunc(o.changes, v+1, func(c userVersion, v int64) int { return cmpInt(c.version, v) })
	return i
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
		if u.alive() && slices.Contains(u.AssignedSkuIDs, skuID) {
			n++
		}
	}
	return n
}
