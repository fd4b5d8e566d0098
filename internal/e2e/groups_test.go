package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// groupIDs lists a tenant's groups named name, as the simulator has them now.
func groupIDs(t *testing.T, s *testenv.Stack, tenantID, name string) []string {
	t.Helper()
	for _, tn := range s.Sim.Snapshot().Tenants {
		if tn.ID != tenantID {
			continue
		}
		var out []string
		for _, g := range tn.Groups {
			if strings.EqualFold(g.DisplayName, name) {
				out = append(out, g.ID)
			}
		}
		return out
	}
	t.Fatalf("tenant %s not in the simulator", tenantID)
	return nil
}

// serviceFlags reads a tenant's PSA users through the CLI, by Azure id.
func serviceFlags(t *testing.T, s *testenv.Stack, tenantID string) map[string]control.PSAUser {
	t.Helper()
	cu, err := s.Store.GetCustomerByTenant(context.Background(), tenantID)
	require.NoError(t, err)
	var users []control.PSAUser
	out := mustCLI(t, s, "users", "list", "--customer", strconv.FormatInt(cu.ID, 10), "--json")
	require.NoError(t, json.Unmarshal([]byte(out), &users), out)
	m := map[string]control.PSAUser{}
	for _, u := range users {
		m[strings.ToLower(u.AzureObjectID)] = u
	}
	return m
}

// openGroupErrors lists a tenant's open service-group errors.
func openGroupErrors(t *testing.T, s *testenv.Stack, tenantID string) []store.IntegrationError {
	t.Helper()
	errs, err := s.Store.ListErrors(context.Background(), "acme", false)
	require.NoError(t, err)
	var out []store.IntegrationError
	for _, e := range errs {
		if strings.EqualFold(e.TenantID, tenantID) && e.Operation == domain.OpServiceGroup {
			out = append(out, e)
		}
	}
	return out
}

// Service users by Azure group on the real stack: with the partner's group "All Staff" a user
// in no group of that name is a service user and one in several groups is not; a membership
// change with no user change (a member taken out, an outsider added, a second group of the
// name) reaches the PSA in the next delta round, logged with the rule, for the cost of the
// users pages plus the groups pages plus a constant; combined with the billable-SKU list
// either rule is enough and the log names both; a customer whose group does not exist keeps
// its users' state under one ServiceGroupNotFound error naming the group, which clears when
// the group appears.
func TestServiceUsersByGroup(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 161, Tenants: 2, UsersPerTenant: 20})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	waitTenants(t, s, 2*time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })
	tn, other := sc.Tenants[0], sc.Tenants[1]
	syncUsers(t, s, tn.ID, "--full")
	syncUsers(t, s, other.ID, "--full")

	out := mustCLI(t, s, "mappings", "settings", "--partner", "acme", "--service-group", "All Staff")
	assert.Contains(t, out, "All Staff")
	assert.NotContains(t, out, "no effect", "the rule works now")
	syncUsers(t, s, tn.ID)

	inGroups := func(u sim.TenantUser, ids []string) bool {
		return slices.ContainsFunc(u.MemberOf, func(g string) bool { return slices.Contains(ids, g) })
	}
	check := func(tenantID string, want func(sim.TenantUser) (bool, string)) {
		t.Helper()
		flags := serviceFlags(t, s, tenantID)
		truth := truthUsers(t, s, tenantID)
		require.Len(t, flags, len(truth))
		for _, u := range truth {
			got := flags[strings.ToLower(u.ID)]
			service, reason := want(u)
			assert.Equal(t, service, got.ServiceUser, "service flag of %s", u.UserPrincipalName)
			assert.Equal(t, reason, got.ServiceReason, "service reason of %s", u.UserPrincipalName)
		}
	}
	byGroup := func(tenantID string) func(sim.TenantUser) (bool, string) {
		ids := groupIDs(t, s, tenantID, "All Staff")
		return func(u sim.TenantUser) (bool, string) {
			if inGroups(u, ids) {
				return false, ""
			}
			return true, "group"
		}
	}
	check(tn.ID, byGroup(tn.ID))
	truth := truthUsers(t, s, tn.ID)
	all := groupIDs(t, s, tn.ID, "All Staff")
	require.Len(t, all, 1)
	several := find(truth, func(u sim.TenantUser) bool { return len(u.MemberOf) >= 2 && inGroups(u, all) })
	require.NotEmpty(t, several.ID, "the scenario has a user in several groups")
	outsiders := slices.DeleteFunc(slices.Clone(truth), func(u sim.TenantUser) bool { return inGroups(u, all) })
	require.GreaterOrEqual(t, len(outsiders), 2, "the scenario has users in no All Staff group")
	assert.False(t, serviceFlags(t, s, tn.ID)[strings.ToLower(several.ID)].ServiceUser, "a user in several groups, one of them All Staff, is billable")

	// Membership changes alone: users/delta says nothing of these users.
	member := find(truth, func(u sim.TenantUser) bool { return inGroups(u, all) && u.ID != several.ID })
	require.NoError(t, s.Sim.RemoveGroupMember(tn.ID, all[0], member.ID))
	require.NoError(t, s.Sim.AddGroupMember(tn.ID, all[0], outsiders[0].ID))
	before := s.Sim.Stats()
	assert.Contains(t, syncUsers(t, s, tn.ID), "delta users round")
	after := s.Sim.Stats()
	check(tn.ID, byGroup(tn.ID))
	flags := serviceFlags(t, s, tn.ID)
	assert.True(t, flags[strings.ToLower(member.ID)].ServiceUser, "taken out of the group")
	assert.False(t, flags[strings.ToLower(outsiders[0].ID)].ServiceUser, "added to the group")
	out = mustCLI(t, s, "log", "--tenant", tn.ID, "--user", member.ID)
	assert.Contains(t, out, "group membership changed")
	assert.Contains(t, out, `rule group: in no group named "All Staff"`)
	// Cost: one users/delta page, the groups lookup, one groups/delta page, and the round's
	// constant calls; nothing per user.
	spent := after.GraphRequestsByTenant[tn.ID] - before.GraphRequestsByTenant[tn.ID]
	usersPages := after.DeltaRequestsByTenant[tn.ID] - before.DeltaRequestsByTenant[tn.ID]
	t.Logf("delta round with membership changes: %d Graph requests, %d users/delta pages", spent, usersPages)
	assert.Equal(t, 1, usersPages)
	assert.LessOrEqual(t, spent, usersPages+2+1, "users pages + groups lookup + groups pages + constant")

	// A second group of the same name: a user in any of them is billable.
	g2, err := s.Sim.CreateGroup(tn.ID, sim.Group{DisplayName: "All Staff"})
	require.NoError(t, err)
	require.NoError(t, s.Sim.AddGroupMember(tn.ID, g2.ID, outsiders[1].ID))
	syncUsers(t, s, tn.ID)
	check(tn.ID, byGroup(tn.ID))
	assert.False(t, serviceFlags(t, s, tn.ID)[strings.ToLower(outsiders[1].ID)].ServiceUser, "member of the second All Staff group")

	// Both rules: the billable list is a SKU some members hold and some do not.
	truth = truthUsers(t, s, tn.ID)
	all = groupIDs(t, s, tn.ID, "All Staff")
	// A SKU some member holds; the user taken out of the group loses his licences, so he is a
	// service user by both rules.
	billable := ""
	for _, u := range truth {
		if billable == "" && inGroups(u, all) && len(u.AssignedSkuIDs) > 0 {
			billable = sortedLower(u.AssignedSkuIDs)[0]
		}
	}
	require.NotEmpty(t, billable, "the scenario has a licensed member")
	require.NoError(t, s.Sim.SetAssignedLicences(tn.ID, member.ID, nil))
	mustCLI(t, s, "mappings", "settings", "--partner", "acme", "--billable-skus", billable)
	syncUsers(t, s, tn.ID)
	holds := func(u sim.TenantUser) bool { return slices.Contains(sortedLower(u.AssignedSkuIDs), billable) }
	both := 0
	check(tn.ID, func(u sim.TenantUser) (bool, string) {
		var rules []string
		if !inGroups(u, all) {
			rules = append(rules, "group")
		}
		if !holds(u) {
			rules = append(rules, "licences")
		}
		if len(rules) == 2 {
			both++
		}
		return len(rules) > 0, strings.Join(rules, ",")
	})
	assert.Positive(t, both, "some user is a service user by both rules")
	mustCLI(t, s, "mappings", "settings", "--partner", "acme", "--billable-skus", "")

	// A customer whose group does not exist: one error naming it, its users keep their state.
	syncUsers(t, s, other.ID)
	check(other.ID, byGroup(other.ID))
	kept := serviceFlags(t, s, other.ID)
	cu, err := s.Store.GetCustomerByTenant(context.Background(), other.ID)
	require.NoError(t, err)
	mustCLI(t, s, "mappings", "settings", "--partner", "acme", "--customer", strconv.FormatInt(cu.ID, 10), "--service-group", "Billing Team")
	syncUsers(t, s, other.ID)
	syncUsers(t, s, other.ID)
	errs := openGroupErrors(t, s, other.ID)
	require.Len(t, errs, 1, "one tenant-level error, however many rounds")
	assert.Equal(t, microsoft.CodeServiceGroupNotFound, errs[0].Code)
	assert.Contains(t, errs[0].Message, `"Billing Team"`)
	assert.Contains(t, errs[0].Remediation, "--service-group")
	assert.Contains(t, mustCLI(t, s, "errors", "list"), microsoft.CodeServiceGroupNotFound)
	for id, u := range serviceFlags(t, s, other.ID) {
		assert.Equal(t, kept[id].ServiceUser, u.ServiceUser, "user %s keeps his state", u.Email)
	}

	// The group appears: the error clears and the rule decides.
	otherTruth := truthUsers(t, s, other.ID)
	g3, err := s.Sim.CreateGroup(other.ID, sim.Group{DisplayName: "Billing Team"})
	require.NoError(t, err)
	require.NoError(t, s.Sim.AddGroupMember(other.ID, g3.ID, otherTruth[0].ID))
	syncUsers(t, s, other.ID)
	assert.Empty(t, openGroupErrors(t, s, other.ID), "the error clears when the group exists")
	flags = serviceFlags(t, s, other.ID)
	for _, u := range truthUsers(t, s, other.ID) {
		assert.Equal(t, u.ID != otherTruth[0].ID, flags[strings.ToLower(u.ID)].ServiceUser, "%s by Billing Team", u.UserPrincipalName)
	}
}

// A licensed user deleted in Microsoft and found missing by a full round has his licence links
// ended (kept as history), so the seats counted from users follow Microsoft.
func TestUserGoneInAFullRoundEndsHisLicenceLinks(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 162, Tenants: 1, UsersPerTenant: 10})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	tn := sc.Tenants[0]
	waitTenants(t, s, 2*time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, tn) })
	syncUsers(t, s, tn.ID, "--full")
	gone := find(truthUsers(t, s, tn.ID), func(u sim.TenantUser) bool { return u.AccountEnabled && len(u.AssignedSkuIDs) > 0 })
	require.NotEmpty(t, gone.ID, "the scenario has a licensed user")
	require.Equal(t, sortedLower(gone.AssignedSkuIDs), currentLinks(t, s, tn.ID)[strings.ToLower(gone.ID)])

	// A user disabled first (inactive, his licences still his in Microsoft) and
	// deleted later is gone with his licences too, though the full round that
	// finds him gone has no decision left to make about him.
	disabled := find(truthUsers(t, s, tn.ID), func(u sim.TenantUser) bool {
		return u.AccountEnabled && len(u.AssignedSkuIDs) > 0 && u.ID != gone.ID
	})
	require.NotEmpty(t, disabled.ID, "the scenario has a second licensed user")
	require.NoError(t, s.Sim.UpdateUser(tn.ID, disabled.ID, sim.UserPatch{AccountEnabled: new(false)}))
	syncUsers(t, s, tn.ID)
	require.Equal(t, sortedLower(disabled.AssignedSkuIDs), currentLinks(t, s, tn.ID)[strings.ToLower(disabled.ID)],
		"a disabled user keeps the licences Microsoft still gives him")

	require.NoError(t, s.Sim.DeleteUser(tn.ID, gone.ID))
	require.NoError(t, s.Sim.DeleteUser(tn.ID, disabled.ID))
	assert.Contains(t, syncUsers(t, s, tn.ID, "--full"), "full users round")
	for _, u := range []sim.TenantUser{gone, disabled} {
		assert.Empty(t, currentLinks(t, s, tn.ID)[strings.ToLower(u.ID)], "links of %s ended", u.UserPrincipalName)
		var ended int
		require.NoError(t, s.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM user_licences l
			JOIN psa_users u ON u.id = l.psa_user_id WHERE u.azure_object_id = $1::uuid AND l.removed_at IS NOT NULL`, u.ID).Scan(&ended))
		assert.Equal(t, len(u.AssignedSkuIDs), ended, "links of %s kept as history", u.UserPrincipalName)
	}
	for id, skus := range currentLinks(t, s, tn.ID) {
		for _, u := range truthUsers(t, s, tn.ID) {
			if strings.EqualFold(u.ID, id) {
				assert.Equal(t, sortedLower(u.AssignedSkuIDs), skus, "links of %s", u.UserPrincipalName)
			}
		}
	}
}
