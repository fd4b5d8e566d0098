package activities_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
)

// usersEnv is an activity environment whose users rounds read pages of
// pageSize users.
func (f *fixture) usersEnv(pageSize int) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Store: f.st, Auth: f.auth, DiscoveryPageSize: 100, UserPageSize: pageSize})
	return env
}

// syncUsers runs one users round of the tenant and returns what it did.
func (f *fixture) syncUsers(t *testing.T, tenantID string, full bool) activities.UserRoundResult {
	t.Helper()
	var a *activities.Activities
	v, err := f.usersEnv(7).ExecuteActivity(a.SyncUsers, "acme", tenantID, full)
	require.NoError(t, err)
	var res activities.UserRoundResult
	require.NoError(t, v.Get(&res))
	return res
}

// psaUsers reads the tenant's PSA users by Azure object id.
func (f *fixture) psaUsers(t *testing.T, tenantID string) map[string]domain.PSAUser {
	t.Helper()
	ctx := context.Background()
	cu, err := f.st.GetCustomerByTenant(ctx, tenantID)
	require.NoError(t, err)
	us, err := f.st.ListUsers(ctx, cu.ID)
	require.NoError(t, err)
	out := map[string]domain.PSAUser{}
	for _, u := range us {
		out[u.AzureObjectID] = u
	}
	return out
}

// logOf returns the newest inbound log rows of one user.
func (f *fixture) logOf(t *testing.T, tenantID, azureID string) []store.LogEntry {
	t.Helper()
	ctx := context.Background()
	cu, err := f.st.GetCustomerByTenant(ctx, tenantID)
	require.NoError(t, err)
	l, err := f.st.InboundLog(ctx, cu.ID, azureID, 10)
	require.NoError(t, err)
	return l
}

// truth is the simulator's live users of a tenant.
func (f *fixture) truth(t *testing.T, tenantID string) []sim.TenantUser {
	t.Helper()
	for _, tn := range f.sim.Snapshot().Tenants {
		if tn.ID == tenantID {
			return tn.Users
		}
	}
	t.Fatalf("tenant %s not in the simulator", tenantID)
	return nil
}

// user looks a PSA user up by Azure object id, failing when he is not there:
// a missing row must never pass for an empty, inactive one.
func user(t *testing.T, users map[string]domain.PSAUser, azureID string) domain.PSAUser {
	t.Helper()
	u, ok := users[azureID]
	require.True(t, ok, "PSA user with Azure object id %s exists", azureID)
	return u
}

// A first round reads every user in full; the next reads the changes and
// logs each update with its fields changed, old -> new.
func TestUsersRoundFullThenDelta(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 41, Tenants: 1, UsersPerTenant: 30}), domain.DAP)
	f.discover(t)
	tn := f.sc.Tenants[0]

	res := f.syncUsers(t, tn.ID, false)
	assert.Equal(t, domain.RoundFull, res.Kind)
	truth := f.truth(t, tn.ID)
	assert.Equal(t, len(truth), res.Users)
	assert.Equal(t, len(truth), res.Created)
	assert.Equal(t, (len(truth)+6)/7, res.Pages)
	got := f.psaUsers(t, tn.ID)
	require.Len(t, got, len(truth))
	for _, u := range truth {
		row := user(t, got, u.ID)
		assert.Equal(t, u.DisplayName, row.Name)
		assert.Equal(t, u.AccountEnabled, row.Active, u.UserPrincipalName)
		assert.Equal(t, domain.UserSourceAzure, row.Source)
	}

	title := "Chief Sync Officer"
	changed := truth[3]
	require.NoError(t, f.sim.UpdateUser(tn.ID, changed.ID, sim.UserPatch{JobTitle: &title}))
	res = f.syncUsers(t, tn.ID, false)
	assert.Equal(t, domain.RoundDelta, res.Kind)
	assert.Equal(t, 1, res.Users)
	assert.Equal(t, 1, res.Updated)
	assert.Equal(t, title, user(t, f.psaUsers(t, tn.ID), changed.ID).JobTitle)
	l := f.logOf(t, tn.ID, changed.ID)
	require.NotEmpty(t, l)
	assert.Equal(t, "updated", l[0].Result)
	assert.Equal(t, []domain.Change{{Field: "job_title", Old: changed.JobTitle, New: title}}, l[0].Changes)
	assert.Len(t, f.psaUsers(t, tn.ID), len(truth), "no user twice")
}

// A user a full round no longer finds is made inactive, never deleted, with
// the reason and the change logged; the others are left as they were.
func TestFullRoundMakesAbsentUsersInactive(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 42, Tenants: 1, UsersPerTenant: 20}), domain.DAP)
	f.discover(t)
	tn := f.sc.Tenants[0]
	f.syncUsers(t, tn.ID, false)
	var gone sim.TenantUser
	for _, u := range f.truth(t, tn.ID)[1:] {
		if u.AccountEnabled {
			gone = u
			break
		}
	}
	require.NotEmpty(t, gone.ID)
	require.NoError(t, f.sim.PurgeUser(tn.ID, gone.ID))

	res := f.syncUsers(t, tn.ID, true)
	assert.Equal(t, domain.RoundFull, res.Kind)
	assert.Equal(t, 1, res.Inactivated)
	assert.Equal(t, len(f.truth(t, tn.ID)), res.Users, "the absent user is not among the users read")
	got := f.psaUsers(t, tn.ID)
	row := user(t, got, gone.ID)
	assert.False(t, row.Active)
	assert.Equal(t, "absent from a full round", row.InactiveReason)
	assert.Equal(t, gone.DisplayName, row.Name, "his fields are kept")
	l := f.logOf(t, tn.ID, gone.ID)
	require.NotEmpty(t, l)
	assert.Equal(t, "inactivated", l[0].Result)
	assert.Equal(t, []domain.Change{{Field: "active", Old: "true", New: "false"}}, l[0].Changes)
	for _, u := range f.truth(t, tn.ID) {
		assert.Equal(t, u.AccountEnabled, user(t, got, u.ID).Active, u.UserPrincipalName)
	}
}

// Every round prunes the inbound log to the partner's retention (30 days by
// default): rows older than that go, the round's own stay.
func TestUsersRoundPrunesTheInboundLog(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 43, Tenants: 1, UsersPerTenant: 10}), domain.DAP)
	f.discover(t)
	tn := f.sc.Tenants[0]
	f.syncUsers(t, tn.ID, false)
	ctx := context.Background()
	cu, err := f.st.GetCustomerByTenant(ctx, tn.ID)
	require.NoError(t, err)
	old, err := f.st.InboundLog(ctx, cu.ID, "", 1000)
	require.NoError(t, err)
	require.NotEmpty(t, old)
	_, err = f.st.Pool().Exec(ctx, `UPDATE inbound_log SET at = now() - interval '31 days'`)
	require.NoError(t, err)

	title := "Archivist"
	changed := f.truth(t, tn.ID)[2]
	require.NoError(t, f.sim.UpdateUser(tn.ID, changed.ID, sim.UserPatch{JobTitle: &title}))
	f.syncUsers(t, tn.ID, false)
	l, err := f.st.InboundLog(ctx, cu.ID, "", 1000)
	require.NoError(t, err)
	require.Len(t, l, 1, "the rows past the retention were pruned")
	assert.Equal(t, changed.ID, l[0].AzureObjectID)
}

// A tenant without Entra ID P1/P2 is asked for sign-in activity once: its
// refusal is one tenant-level error with the catalogue's fix, no round after
// it within the day asks again, and no user is touched for it. When the
// tenant gains a premium licence, the licence import sees it, the next round
// reads the sign-ins and the error clears.
func TestSignInPassOfANonPremiumTenantIsAskedOnce(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 44, Tenants: 6, UsersPerTenant: 8})
	f := authorised(t, sc, domain.DAP)
	f.discover(t)
	var tn sim.Tenant
	for _, c := range sc.Tenants {
		if !c.PremiumLicence {
			tn = c
			break
		}
	}
	require.NotEmpty(t, tn.ID, "the generator gives some tenants no premium licence")
	var a *activities.Activities
	_, err := f.usersEnv(7).ExecuteActivity(a.ImportLicences, "acme", tn.ID)
	require.NoError(t, err)

	for range 3 {
		res := f.syncUsers(t, tn.ID, false)
		assert.False(t, res.SignIns)
	}
	assert.Equal(t, 1, f.sim.Stats().SignInActivityRequestsByTenant[tn.ID], "one request over three rounds")
	open := f.errorRows(t, false)
	require.Len(t, open, 1)
	assert.Equal(t, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", open[0].Code)
	assert.Equal(t, domain.OpSignIns, open[0].Operation)
	assert.Equal(t, tn.ID, open[0].TenantID, "a tenant-level error")
	assert.Equal(t, 1, open[0].Occurrences)
	assert.NotEmpty(t, open[0].Remediation)
	for _, u := range f.psaUsers(t, tn.ID) {
		assert.True(t, u.LastSignIn.IsZero())
		for _, l := range f.logOf(t, tn.ID, u.AzureObjectID) {
			assert.NotContains(t, l.Reason, "premium", "no per-user noise")
		}
	}

	// The tenant buys Entra ID P1.
	_, err = f.sim.AddSubscription(tn.ID, sim.Subscription{SkuID: "078d2b04-f1bd-4111-bbd4-b4b1b354cef4", Quantity: 5})
	require.NoError(t, err)
	_, err = f.usersEnv(7).ExecuteActivity(a.ImportLicences, "acme", tn.ID)
	require.NoError(t, err)
	res := f.syncUsers(t, tn.ID, false)
	assert.True(t, res.SignIns, "a premium licence since the refusal: asked again at once")
	assert.Empty(t, f.errorRows(t, false), "the refusal cleared itself")
	signedIn := 0
	for _, u := range f.truth(t, tn.ID) {
		if u.LastSignIn != nil {
			signedIn++
			assert.True(t, u.LastSignIn.Equal(user(t, f.psaUsers(t, tn.ID), u.ID).LastSignIn), u.UserPrincipalName)
		}
	}
	assert.NotZero(t, signedIn)
	requests := f.sim.Stats().SignInActivityRequestsByTenant[tn.ID]
	f.syncUsers(t, tn.ID, false)
	assert.Equal(t, requests, f.sim.Stats().SignInActivityRequestsByTenant[tn.ID], "read today: not again")
}
