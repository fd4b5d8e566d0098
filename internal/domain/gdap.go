package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// RelationshipSource says where a tenant's relationship comes from.
type RelationshipSource string

const (
	// SourceDefault: Microsoft said nothing, so the partner's default applies.
	SourceDefault RelationshipSource = "default"
	// SourceMicrosoft: what Microsoft says (Partner Center's delegated access
	// for DAP, the partner's GDAP relationships for GDAP).
	SourceMicrosoft RelationshipSource = "microsoft"
	// SourceOverride: set by hand (`tenants set-relationship`); discovery
	// never changes it.
	SourceOverride RelationshipSource = "override"
)

// RelationshipSources lists every relationship source.
func RelationshipSources() []RelationshipSource {
	return []RelationshipSource{SourceDefault, SourceMicrosoft, SourceOverride}
}

// GDAPRelationship is one of the partner's GDAP relationships as Microsoft
// Graph lists it (tenantRelationships/delegatedAdminRelationships).
type GDAPRelationship struct {
	ID               string
	Name             string
	Status           string // Microsoft's delegatedAdminRelationshipStatus
	CustomerTenantID string
	EndAt            *time.Time
	Roles            []string // role definition ids the relationship grants (accessDetails)
	// Assigned are the role definition ids its active access assignments give
	// the partner's security groups: what the partner's users can use.
	Assigned []string
}

// GDAPState is what the partner's GDAP relationships with one customer tenant
// come to: the active ones when there are any, else the one that ended or
// changed last. The zero GDAPState means none is known.
type GDAPState struct {
	Status string     `json:"status"`
	EndAt  *time.Time `json:"end_at"`
	Name   string     `json:"name"`
	// Roles are the role definition ids the active relationships' active
	// access assignments give the partner's users.
	Roles []string `json:"roles"`
}

// Statuses of a GDAP relationship (Microsoft's delegatedAdminRelationshipStatus).
const (
	GDAPActive = "active"
)

// Known is true when Microsoft lists a GDAP relationship with the tenant.
func (g GDAPState) Known() bool { return g.Status != "" }

// Active is true while a relationship grants its roles.
func (g GDAPState) Active() bool { return g.Status == GDAPActive }

// Ended is true when the relationship is over: it expired or was
// terminated (or is on its way there), and no active one remains.
func (g GDAPState) Ended() bool {
	switch g.Status {
	case "expiring", "expired", "terminationRequested", "terminating", "terminated":
		return true
	}
	return false
}

// Summary reads like "active until 2027-01-15" or "expired 2025-02-14"; ""
// when no relationship is known.
func (g GDAPState) Summary() string {
	switch {
	case g.EndAt == nil:
		return g.Status
	case g.Active():
		return g.Status + " until " + g.EndAt.UTC().Format("2006-01-02")
	}
	return g.Status + " " + g.EndAt.UTC().Format("2006-01-02")
}

// SummariseGDAP is what one tenant's GDAP relationships come to.
func SummariseGDAP(rels []GDAPRelationship) GDAPState {
	var g GDAPState
	var names []string
	for _, r := range rels {
		if r.Status != GDAPActive {
			continue
		}
		names = append(names, r.Name)
		g.Status = GDAPActive
		if g.EndAt == nil || r.EndAt != nil && r.EndAt.After(*g.EndAt) {
			g.EndAt = r.EndAt // the last to end
		}
		for _, id := range r.Assigned {
			if !slices.Contains(g.Roles, id) {
				g.Roles = append(g.Roles, id)
			}
		}
	}
	if g.Active() {
		slices.Sort(g.Roles)
		g.Name = strings.Join(names, ", ")
		return g
	}
	// None active: the one that ended last says what happened (one never
	// activated has no end and comes after those that did).
	for _, r := range rels {
		if g.Status == "" || r.EndAt == nil || g.EndAt != nil && r.EndAt.After(*g.EndAt) {
			g = GDAPState{Status: r.Status, EndAt: r.EndAt, Name: r.Name}
		}
	}
	return g
}

// DetectRelationship is Microsoft's answer to "DAP or GDAP?": DAP when
// Partner Center says the customer allows the partner delegated access,
// GDAP when the partner has a GDAP relationship with it, "" when Microsoft
// says neither (or the GDAP relationships could not be read).
func DetectRelationship(delegatedAccess bool, g GDAPState) Relationship {
	switch {
	case delegatedAccess:
		return DAP
	case g.Known():
		return GDAP
	}
	return ""
}

// PausesTenant is true when a tenant administered through GDAP has no
// active relationship left: Partner Center no longer answers for it.
func (g GDAPState) PausesTenant(rel Relationship) bool { return rel == GDAP && g.Ended() }

// PauseReason says why PausesTenant, and what resumes the tenant.
func (g GDAPState) PauseReason() string {
	return g.what() + ": " + gdapRenew
}

func (g GDAPState) what() string {
	s := "the GDAP relationship " + quoteName(g.Name) + " is " + g.Status
	if g.EndAt != nil {
		s += " (" + g.EndAt.UTC().Format("2006-01-02") + ")"
	}
	return s
}

func quoteName(n string) string {
	if n == "" {
		return "with this customer"
	}
	return "«" + n + "»"
}

const gdapRenew = "in Partner Center (Customers, the customer, Admin relationships) request a new GDAP relationship " +
	"with Directory Readers, Global Reader, User Administrator or License Administrator and have the customer's " +
	"Global Administrator approve it; the next discovery (`cspsync sync`) resumes the tenant"

// licenceRoles are the built-in Entra ID roles of which Partner Center
// needs one, through GDAP, to list a customer's licences ("Get a list of
// available licenses": Directory Readers, Global Reader, User Administrator,
// License Administrator), by their role definition ids, the same in every
// tenant.
var licenceRoles = []struct{ ID, Name string }{
	{"88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"},
	{"f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"},
	{"fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"},
	{"4d6ac14f-3453-41d0-bef9-a3e0c569773a", "License Administrator"},
}

// globalAdministrator holds every permission of the licence roles, so a
// relationship granting it needs none of them.
const globalAdministrator = "62e90394-69f5-4237-9190-012177145e10"

// LicenceRoleNames names the roles of which licence import needs one.
func LicenceRoleNames() []string {
	names := make([]string, len(licenceRoles))
	for i, r := range licenceRoles {
		names[i] = r.Name
	}
	return names
}

// readsLicences is true when roles hold one that lets Partner Center list
// the customer's licences.
func readsLicences(roles []string) bool {
	if slices.Contains(roles, globalAdministrator) {
		return true
	}
	for _, r := range licenceRoles {
		if slices.Contains(roles, r.ID) {
			return true
		}
	}
	return false
}

// Problem is a tenant-level failure cspsync finds itself, before any call
// fails: its code, cause and fix.
type Problem struct{ Code, Cause, Remediation string }

// Codes of the GDAP problems.
const (
	CodeGDAPRolesMissing  = "GDAPRolesMissing"
	CodeGDAPEnded         = "GDAPRelationshipEnded"
	CodeGDAPNotActive     = "GDAPRelationshipNotActive"
	gdapWhereRelationship = "Partner Center (Customers, the customer, Admin relationships)"
)

// GDAPProblem is what stands in the way of a tenant Microsoft administers
// only through GDAP (no delegated access in Partner Center), judged from
// its relationships before any licence import fails; nil when nothing does.
func GDAPProblem(delegatedAccess bool, rels []GDAPRelationship) *Problem {
	g := SummariseGDAP(rels)
	switch {
	case delegatedAccess || !g.Known():
		return nil
	case g.Ended():
		return &Problem{CodeGDAPEnded, "The partner has no active GDAP relationship with this customer: " + g.what() +
			", so Partner Center no longer answers for it.", strings.ToUpper(gdapRenew[:1]) + gdapRenew[1:] + "."}
	case !g.Active():
		return &Problem{CodeGDAPNotActive, "The GDAP relationship " + quoteName(g.Name) + " is " + g.Status +
			", not active yet, so it grants no role.", "The customer's Global Administrator must approve it from the " +
			"request link Partner Center gives (" + gdapWhereRelationship + "); the next discovery (`cspsync sync`) picks it up."}
	case readsLicences(g.Roles):
		return nil
	}
	// Say where the role is missing: in the relationships (they cannot change
	// once approved) or only in their access assignments.
	var granted, names []string
	for _, r := range rels {
		if r.Status == GDAPActive {
			names = append(names, quoteName(r.Name))
			if readsLicences(r.Roles) {
				granted = append(granted, quoteName(r.Name))
			}
		}
	}
	cause := fmt.Sprintf("The active GDAP relationship %s gives the partner's users none of the roles licence import needs: %s.",
		strings.Join(names, ", "), strings.Join(LicenceRoleNames(), ", "))
	if len(granted) > 0 {
		return &Problem{CodeGDAPRolesMissing, cause, "In " + gdapWhereRelationship + ", open the relationship " +
			strings.Join(granted, ", ") + " and assign one of those roles to the security group of the partner's users " +
			"(Access assignments); then run `cspsync sync`."}
	}
	return &Problem{CodeGDAPRolesMissing, cause, "The roles of an approved GDAP relationship cannot be changed: in " +
		gdapWhereRelationship + " create a new relationship with this customer that includes one of them, have the " +
		"customer's Global Administrator approve it and assign the role to the partner's security group (Access " +
		"assignments); then run `cspsync sync`."}
}
