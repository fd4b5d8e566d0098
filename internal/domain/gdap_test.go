package domain_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
)

const (
	directoryReaders = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
	helpdeskAdmin    = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
	globalAdmin      = "62e90394-69f5-4237-9190-012177145e10"
)

func at(day int) *time.Time {
	t := time.Date(2026, 1, day, 0, 0, 0, 0, time.UTC)
	return &t
}

func TestSummariseGDAPPrefersActiveRelationshipsThenTheLastToEnd(t *testing.T) {
	none := domain.SummariseGDAP(nil)
	assert.False(t, none.Known())
	assert.Equal(t, domain.Relationship(""), domain.DetectRelationship(false, none), "Microsoft says nothing")
	assert.Equal(t, domain.DAP, domain.DetectRelationship(true, none))

	g := domain.SummariseGDAP([]domain.GDAPRelationship{
		{Name: "old", Status: "expired", EndAt: at(1), Roles: []string{directoryReaders}, Assigned: []string{directoryReaders}},
		{Name: "a", Status: "active", EndAt: at(20), Roles: []string{helpdeskAdmin, directoryReaders}, Assigned: []string{helpdeskAdmin}},
		{Name: "b", Status: "active", EndAt: at(25), Roles: []string{directoryReaders}, Assigned: []string{directoryReaders}},
	})
	assert.Equal(t, domain.GDAPState{Status: "active", EndAt: at(25), Name: "a, b", Roles: []string{helpdeskAdmin, directoryReaders}}, g, "roles sorted")
	assert.Equal(t, domain.GDAP, domain.DetectRelationship(false, g))
	assert.Equal(t, domain.DAP, domain.DetectRelationship(true, g), "delegated access means DAP still works")
	assert.False(t, g.PausesTenant(domain.GDAP))

	ended := domain.SummariseGDAP([]domain.GDAPRelationship{
		{Name: "first", Status: "expired", EndAt: at(1)}, {Name: "second", Status: "terminated", EndAt: at(9)}})
	assert.Equal(t, "terminated", ended.Status)
	assert.Equal(t, "second", ended.Name)
	assert.True(t, ended.Ended())
	assert.True(t, ended.PausesTenant(domain.GDAP))
	assert.False(t, ended.PausesTenant(domain.DAP), "an override to DAP wins")
	assert.Contains(t, ended.PauseReason(), "«second» is terminated (2026-01-09)")

	// A new relationship waiting for approval says more than the one that ended.
	pending := domain.SummariseGDAP([]domain.GDAPRelationship{
		{Name: "old", Status: "expired", EndAt: at(1)}, {Name: "new", Status: "approvalPending"}})
	assert.Equal(t, "approvalPending", pending.Status)
	assert.False(t, pending.PausesTenant(domain.GDAP))
}

func TestGDAPProblemNamesWhatIsMissingAndWhere(t *testing.T) {
	assert.Nil(t, domain.GDAPProblem(false, nil), "no GDAP relationship: nothing to say")
	assert.Nil(t, domain.GDAPProblem(true, []domain.GDAPRelationship{{Status: "expired"}}), "DAP grants every role")
	assert.Nil(t, domain.GDAPProblem(false, []domain.GDAPRelationship{{Status: "active", Roles: []string{directoryReaders}, Assigned: []string{directoryReaders}}}))
	assert.Nil(t, domain.GDAPProblem(false, []domain.GDAPRelationship{{Status: "active", Roles: []string{globalAdmin}, Assigned: []string{globalAdmin}}}),
		"Global Administrator holds every permission of the licence roles")

	// The relationship lacks the roles: a new one is needed.
	p := domain.GDAPProblem(false, []domain.GDAPRelationship{{Name: "helpdesk", Status: "active", Roles: []string{helpdeskAdmin}, Assigned: []string{helpdeskAdmin}}})
	require.NotNil(t, p)
	assert.Equal(t, domain.CodeGDAPRolesMissing, p.Code)
	for _, role := range domain.LicenceRoleNames() {
		assert.Contains(t, p.Cause, role)
	}
	assert.Contains(t, p.Cause, "«helpdesk»")
	assert.Contains(t, p.Remediation, "create a new relationship")
	assert.Contains(t, p.Remediation, "Partner Center (Customers, the customer, Admin relationships)")

	// The relationship grants one, but no access assignment gives it: assign it.
	p = domain.GDAPProblem(false, []domain.GDAPRelationship{{Name: "full", Status: "active", Roles: []string{directoryReaders, helpdeskAdmin}, Assigned: []string{helpdeskAdmin}}})
	require.NotNil(t, p)
	assert.Equal(t, domain.CodeGDAPRolesMissing, p.Code)
	assert.Contains(t, p.Remediation, "open the relationship «full»")
	assert.Contains(t, p.Remediation, "Access assignments")

	p = domain.GDAPProblem(false, []domain.GDAPRelationship{{Name: "gone", Status: "expired", EndAt: at(3)}})
	require.NotNil(t, p)
	assert.Equal(t, domain.CodeGDAPEnded, p.Code)
	assert.Contains(t, p.Cause, "«gone» is expired (2026-01-03)")
	assert.Contains(t, p.Remediation, "request a new GDAP relationship")

	p = domain.GDAPProblem(false, []domain.GDAPRelationship{{Name: "soon", Status: "approvalPending"}})
	require.NotNil(t, p)
	assert.Equal(t, domain.CodeGDAPNotActive, p.Code)
	assert.Contains(t, p.Remediation, "Global Administrator must approve")
}
