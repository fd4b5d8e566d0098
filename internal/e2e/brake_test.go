package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// A site-mapping mistake that would make most of a customer's users
// inactive trips the safety brake: the round stops before writing them,
// the tenant shows the error with its fix (errors list, tenants list,
// sync --wait), the PSA rows stay as they were, and after an operator
// confirms, the next round makes them inactive, once.
func TestSafetyBrakeStopsARoundThatWouldInactivateMostUsers(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 152, Tenants: 1, UsersPerTenant: 30})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.Worker.UserPageSize = 7 // several pages: the brake counts across the round
	s.StartWorker()
	authorise(t, s, connectOpts{})
	tn := sc.Tenants[0]
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })
	ctx := context.Background()
	syncUsers(t, s, tn.ID, "--full")
	cu, err := s.Store.GetCustomerByTenant(ctx, tn.ID)
	require.NoError(t, err)
	cid := strconv.FormatInt(cu.ID, 10)
	assert.Contains(t, mustCLI(t, s, "mappings", "settings", "--partner", "acme"), "max inactivate share: 20 %", "the default")

	before := psaUsers(t, s, tn.ID)
	dept := map[string]string{}
	leaving := 0
	for _, u := range truthUsers(t, s, tn.ID) {
		dept[u.ID] = u.Department
		if row(t, before, u.ID).Active && !stays(u.Department) {
			leaving++
		}
	}
	require.Greater(t, leaving*100, 20*len(before), "the mistake concerns more than the brake's share")

	// The mistake: only Sales is placed any more. (Users Graph sends without
	// a department keep their site: the filter cannot tell.)
	mustCLI(t, s, "mappings", "set-sites", "--customer", cid, `user.department == "Sales" => Main`)
	out, err := runCLI(t, s, "sync", "--tenant", tn.ID, "--full", "--wait", "--timeout", "2m")
	require.Error(t, err, out)
	out += err.Error()
	assert.Contains(t, out, microsoft.CodeInactivationBrake, "sync --wait says why")
	errs := listErrors(t, s, "acme", false)
	require.Len(t, errs, 1, out)
	assert.Equal(t, microsoft.CodeInactivationBrake, errs[0].Code)
	assert.Equal(t, tn.ID, errs[0].TenantID)
	assert.Equal(t, 1, errs[0].Occurrences, "recorded at once, not after retries")
	assert.Contains(t, errs[0].Message, "safety brake")
	assert.Contains(t, errs[0].Remediation, "cspsync users confirm-inactivation")
	require.Eventually(t, func() bool {
		return strings.Contains(mustCLI(t, s, "tenants", "list"), microsoft.CodeInactivationBrake)
	}, 30*time.Second, 200*time.Millisecond, "tenants list shows the brake")
	assert.Contains(t, mustCLI(t, s, "errors", "list"), "confirm-inactivation")
	assertTenantErrorShown(t, s, cid, microsoft.CodeInactivationBrake)
	assert.Equal(t, before, psaUsers(t, s, tn.ID), "no PSA row changed")

	// Asked again without a confirmation, the round stops at the same place.
	_, err = runCLI(t, s, "sync", "--tenant", tn.ID, "--wait", "--timeout", "2m")
	require.Error(t, err)
	assert.Equal(t, before, psaUsers(t, s, tn.ID), "still no PSA row changed")

	// The operator confirms: the next round goes through.
	assert.Contains(t, mustCLI(t, s, "users", "confirm-inactivation", "--customer", cid), "Confirmed")
	out = syncUsers(t, s, tn.ID)
	assert.Contains(t, out, "inactivated", out)
	after := psaUsers(t, s, tn.ID)
	for id, r := range before {
		want := r
		want.Active = r.Active && stays(dept[id])
		assert.Equal(t, want, row(t, after, id), "user %s of %s", id, dept[id])
	}
	assert.Empty(t, listErrors(t, s, "acme", false), "the round's end resolves the error")
	confirmed, err := s.Store.InactivationConfirmed(ctx, cu.ID)
	require.NoError(t, err)
	assert.Nil(t, confirmed, "a confirmation lets one round through")

	// Armed again: putting everyone back and taking them away once more stops.
	mustCLI(t, s, "mappings", "set-sites", "--customer", cid, `true => Main`)
	syncUsers(t, s, tn.ID, "--full")
	mustCLI(t, s, "mappings", "set-sites", "--customer", cid, `user.department == "Sales" => Main`)
	out, err = runCLI(t, s, "sync", "--tenant", tn.ID, "--full", "--wait", "--timeout", "2m")
	require.Error(t, err, out)
	assert.Contains(t, out+err.Error(), microsoft.CodeInactivationBrake)
	assert.Equal(t, before, psaUsers(t, s, tn.ID), "everyone active again, and kept so by the brake")

	// A partner that turns the brake off lets the round through.
	assert.Contains(t, mustCLI(t, s, "mappings", "settings", "--partner", "acme", "--max-inactivate-share", "100"), "max inactivate share: 100 %")
	syncUsers(t, s, tn.ID)
	for id, r := range psaUsers(t, s, tn.ID) {
		assert.Equal(t, before[id].Active && stays(dept[id]), r.Active, "user %s of %s", id, dept[id])
	}
	_, err = runCLI(t, s, "mappings", "settings", "--partner", "acme", "--max-inactivate-share", "0")
	assert.ErrorContains(t, err, "from 1 to 100")
}

// stays tells whether the mapping `user.department == "Sales"` keeps a user
// of this department active: Sales, and those whose department Graph
// leaves out (unknown, so the user keeps his site).
func stays(department string) bool { return department == "Sales" || department == "" }
