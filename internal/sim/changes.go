package sim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Directory changes a test or demo makes in a customer tenant, as its admins would: bulk
// changes from a seed (ChangeUsers) and single-user edits. Each is recorded in the tenant's
// change log, so the next users delta round reports it, and persisted in the state directory.

// UserChanges asks ChangeUsers for a number of changes of each kind. A share (0 to 1) adds
// that fraction of the tenant's live users to the count of its kind. Updated, disabled and
// deleted users are distinct; the tenant's first user (its admin) is never picked.
type UserChanges struct {
	Seed         int64   `json:"seed"`
	Create       int     `json:"create,omitempty"`
	Update       int     `json:"update,omitempty"`
	UpdateShare  float64 `json:"updateShare,omitempty"`
	Disable      int     `json:"disable,omitempty"`
	DisableShare float64 `json:"disableShare,omitempty"`
	Delete       int     `json:"delete,omitempty"`
	DeleteShare  float64 `json:"deleteShare,omitempty"`
}

// ChangedUsers lists the ids ChangeUsers changed, by kind, in the order it changed them.
type ChangedUsers struct {
	Created  []string `json:"created"`
	Updated  []string `json:"updated"`
	Disabled []string `json:"disabled"`
	Deleted  []string `json:"deleted"`
}

// ChangeUsers creates, updates (job title, department, phone or display name), disables and
// soft-deletes users of a tenant, choosing them from c.Seed, and returns exactly what changed.
// The same seed on the same directory makes the same changes.
func (s *Server) ChangeUsers(tenantID string, c UserChanges) (ChangedUsers, error) {
	o := s.dir.customer(tenantID)
	if o == nil {
		return ChangedUsers{}, errUnknownTenant(tenantID)
	}
	for _, v := range []float64{c.UpdateShare, c.DisableShare, c.DeleteShare} {
		if v < 0 || v > 1 {
			return ChangedUsers{}, fmt.Errorf("sim: share %v is not between 0 and 1", v)
		}
	}
	if c.Create < 0 || c.Update < 0 || c.Disable < 0 || c.Delete < 0 {
		return ChangedUsers{}, errors.New("sim: change counts must not be negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := tenantRand(o.ID, "changes", c.Seed)
	var candidates []*dirUser // live users but the admin, in directory order
	for i, u := range o.users {
		if i > 0 && u.alive() {
			candidates = append(candidates, u)
		}
	}
	share := func(n int, f float64) int { return n + int(math.Round(f*float64(o.live))) }
	update, disable, del := share(c.Update, c.UpdateShare), share(c.Disable, c.DisableShare), share(c.Delete, c.DeleteShare)
	if need := update + disable + del; need > len(candidates) {
		return ChangedUsers{}, fmt.Errorf("sim: %d updates, disables and deletions need that many distinct users; tenant %s has %d besides its admin", need, o.ID, len(candidates))
	}
	x.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	var out ChangedUsers
	now := s.now()
	for range c.Create {
		u := &dirUser{created: o.version + 1}
		u.TenantUser = newHire(x, o, u.created, now)
		o.add(u)
		s.state.recordUser(o, u, *u) // new: delta rounds send him whole
		out.Created = append(out.Created, u.ID)
	}
	for _, u := range candidates[:update] {
		before := u.snapshot()
		switch x.IntN(4) {
		case 0:
			u.JobTitle = jobTitles[x.IntN(len(jobTitles))] + " II"
		case 1:
			u.Department = departments[x.IntN(len(departments))]
		case 2:
			u.MobilePhone = fmt.Sprintf("+1 206 555 %04d", x.IntN(10000))
		default:
			u.DisplayName += " (" + departments[x.IntN(len(departments))] + ")"
		}
		s.state.recordUser(o, u, before)
		out.Updated = append(out.Updated, u.ID)
	}
	for _, u := range candidates[update : update+disable] {
		before := u.snapshot()
		u.AccountEnabled = false
		s.state.recordUser(o, u, before)
		out.Disabled = append(out.Disabled, u.ID)
	}
	for _, u := range candidates[update+disable : update+disable+del] {
		before := u.snapshot()
		u.deleted = true
		s.state.recordUser(o, u, before)
		out.Deleted = append(out.Deleted, u.ID)
	}
	return out, s.persistLocked()
}

// UserPatch sets the properties it names (nil leaves one as it is; "" clears a string).
type UserPatch struct {
	DisplayName       *string `json:"displayName,omitempty"`
	GivenName         *string `json:"givenName,omitempty"`
	Surname           *string `json:"surname,omitempty"`
	UserPrincipalName *string `json:"userPrincipalName,omitempty"`
	Mail              *string `json:"mail,omitempty"`
	JobTitle          *string `json:"jobTitle,omitempty"`
	Department        *string `json:"department,omitempty"`
	CompanyName       *string `json:"companyName,omitempty"`
	OfficeLocation    *string `json:"officeLocation,omitempty"`
	EmployeeID        *string `json:"employeeId,omitempty"`
	BusinessPhone     *string `json:"businessPhone,omitempty"`
	MobilePhone       *string `json:"mobilePhone,omitempty"`
	UsageLocation     *string `json:"usageLocation,omitempty"`
	AccountEnabled    *bool   `json:"accountEnabled,omitempty"`
}

// UpdateUser changes properties of a live user; accountEnabled disables or enables it.
func (s *Server) UpdateUser(tenantID, userID string, p UserPatch) error {
	return s.changeUser(tenantID, userID, func(o *org, u *dirUser) error {
		if p.DisplayName != nil && *p.DisplayName == "" {
			return errors.New("sim: displayName cannot be cleared")
		}
		if p.UserPrincipalName != nil && !strings.EqualFold(*p.UserPrincipalName, u.UserPrincipalName) {
			upn := *p.UserPrincipalName
			if _, domain, _ := strings.Cut(upn, "@"); !strings.EqualFold(domain, o.Domain) {
				return fmt.Errorf("sim: userPrincipalName %q must be in the tenant's domain %s", upn, o.Domain)
			}
			if o.byUPN[strings.ToLower(upn)] != nil {
				return fmt.Errorf("sim: userPrincipalName %q is already taken", upn)
			}
			delete(o.byUPN, strings.ToLower(u.UserPrincipalName))
			u.UserPrincipalName = upn
			o.byUPN[strings.ToLower(upn)] = u
		}
		for _, f := range []struct {
			v   *string
			dst *string
		}{{p.DisplayName, &u.DisplayName}, {p.GivenName, &u.GivenName}, {p.Surname, &u.Surname}, {p.Mail, &u.Mail},
			{p.JobTitle, &u.JobTitle}, {p.Department, &u.Department}, {p.CompanyName, &u.CompanyName},
			{p.OfficeLocation, &u.OfficeLocation}, {p.EmployeeID, &u.EmployeeID}, {p.BusinessPhone, &u.BusinessPhone},
			{p.MobilePhone, &u.MobilePhone}, {p.UsageLocation, &u.UsageLocation}} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
		if p.AccountEnabled != nil {
			u.AccountEnabled = *p.AccountEnabled
		}
		return nil
	}, false)
}

// DeleteUser soft-deletes a user, as a customer admin might: Graph no longer lists it, and the
// next users delta round reports it removed with reason "changed" (restorable).
func (s *Server) DeleteUser(tenantID, userID string) error {
	return s.changeUser(tenantID, userID, func(_ *org, u *dirUser) error { u.deleted = true; return nil }, false)
}

// PurgeUser permanently deletes a user, live or soft-deleted; the next users delta round
// reports it removed with reason "deleted".
func (s *Server) PurgeUser(tenantID, userID string) error {
	return s.changeUser(tenantID, userID, func(_ *org, u *dirUser) error { u.purged = true; return nil }, true)
}

// RestoreUser brings back a soft-deleted user; the next users delta round reports it again.
func (s *Server) RestoreUser(tenantID, userID string) error {
	return s.changeUser(tenantID, userID, func(o *org, u *dirUser) error {
		if !u.deleted {
			return fmt.Errorf("sim: user %s is not deleted", userID)
		}
		if other := o.byUPN[strings.ToLower(u.UserPrincipalName)]; other != nil {
			return fmt.Errorf("sim: user %s cannot be restored: its userPrincipalName %s is now used by %s", userID, u.UserPrincipalName, other.ID)
		}
		u.deleted = false
		return nil
	}, true)
}

// changeUser applies edit to a user found by id or UPN (soft-deleted ones too when deleted is
// true) and records the change.
func (s *Server) changeUser(tenantID, userID string, edit func(*org, *dirUser) error, deleted bool) error {
	o := s.dir.byID[strings.ToLower(tenantID)]
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := o.user(userID)
	if u == nil && deleted {
		u = o.byID[userID]
	}
	if u == nil {
		return &notFoundError{"user " + strconv.Quote(userID) + " in tenant " + tenantID}
	}
	before := u.snapshot()
	if err := edit(o, u); err != nil {
		return err
	}
	s.state.recordUser(o, u, before)
	return s.persistLocked()
}
