package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// TestUsersDeltaDefaultAndMinimalModesGiveTheSameRows runs the same rounds
// (a full one, then creations, updates, renames, a department moving a user
// to another site, a cleared phone, disabled and deleted users, a round
// without changes and a restored user) against Graph answering updated
// users in its default mode (every selected property) and in its minimal
// one (Prefer: return=minimal: only the changed ones). The PSA rows equal
// the simulator's truth after every round, and so each other.
func TestUsersDeltaDefaultAndMinimalModesGiveTheSameRows(t *testing.T) {
	rows := map[string][]map[string]psaRow{}
	rereads := map[string]int{}
	for _, mode := range []string{sim.DeltaAsRequested, sim.DeltaMinimal} {
		name := "default"
		if mode == sim.DeltaMinimal {
			name = "minimal"
		}
		t.Run(name, func(t *testing.T) {
			rows[name], rereads[name] = usersRoundsInMode(t, mode)
		})
	}
	require.Len(t, rows["default"], 5)
	assert.Equal(t, rows["default"], rows["minimal"], "the PSA rows after each round")
	// In the minimal mode nearly every updated user is read again; in the
	// default one only those without some selected property.
	assert.Greater(t, rereads["minimal"], rereads["default"], "users read again")
	t.Logf("users read again: %d in the default mode, %d in the minimal one", rereads["default"], rereads["minimal"])
}

// usersRoundsInMode runs the rounds with the simulator answering users/delta
// in mode and returns the PSA rows after each round (compared with the
// simulator's truth on the way) and how many users cspsync read again.
func usersRoundsInMode(t *testing.T, mode string) ([]map[string]psaRow, int) {
	// A tenant synced from Active Directory: most users have every selected
	// property, so the two modes differ in what an updated user carries.
	sc := sim.Generate(sim.GenerateOptions{Seed: 25, Tenants: 1, UsersPerTenant: 40})
	tn := sc.Tenants[0]
	s := testenv.NewStack(t, sc, sim.Options{})
	require.NoError(t, s.Sim.SetDeltaResponses(mode))
	s.Worker.UserPageSize = 9
	ctx := context.Background()
	customer, err := testenv.CreateCustomer(ctx, s.Store, tn.Name)
	require.NoError(t, err)
	cid := strconv.FormatInt(customer, 10)
	s.StartWorker()
	mustCLI(t, s, "sites", "add", "--customer", cid, "Sales")
	mustCLI(t, s, "mappings", "set-sites", "--customer", cid, `user.department == "Sales" => Sales`, `true => Main`)
	authorise(t, s, connectOpts{})
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, tn) })

	var rounds []map[string]psaRow
	round := func(what string) {
		t.Helper()
		syncUsers(t, s, tn.ID)
		got := psaUsers(t, s, tn.ID)
		for _, u := range truthUsers(t, s, tn.ID) {
			site := "Main"
			if u.Department == "Sales" {
				site = "Sales"
			}
			assert.Equal(t, expected(u, site), got[u.ID], "%s: user %s", what, u.UserPrincipalName)
		}
		rounds = append(rounds, got)
	}
	round("first round")

	ch, err := s.Sim.ChangeUsers(tn.ID, sim.UserChanges{Seed: 3, Create: 3, Update: 6, Disable: 2, Delete: 2})
	require.NoError(t, err)
	round("creations, updates, disabled and deleted users")
	for _, id := range ch.Deleted {
		assert.False(t, rounds[1][id].Active, "a deleted user is inactive")
	}

	users := truthUsers(t, s, tn.ID)
	renamed := find(users, func(u sim.TenantUser) bool { return u.Department != "Sales" && u.MobilePhone != "" })
	moved := find(users, func(u sim.TenantUser) bool { return u.Department != "Sales" && u.ID != renamed.ID })
	name, sales, empty := "Renamed "+renamed.DisplayName, "Sales", ""
	require.NoError(t, s.Sim.UpdateUser(tn.ID, renamed.ID, sim.UserPatch{DisplayName: &name, MobilePhone: &empty}))
	require.NoError(t, s.Sim.UpdateUser(tn.ID, moved.ID, sim.UserPatch{Department: &sales}))
	round("a rename with a cleared phone, and a move to another site")
	assert.Equal(t, "Sales", rounds[2][moved.ID].Site)

	round("no change")

	require.NoError(t, s.Sim.RestoreUser(tn.ID, ch.Deleted[0]))
	_, err = s.Sim.ChangeUsers(tn.ID, sim.UserChanges{Seed: 4, Create: 1, Update: 4, Disable: 1, Delete: 1})
	require.NoError(t, err)
	round("a restored user and more changes")
	assert.True(t, rounds[4][ch.Deleted[0]].Active, "a restored user is active again")

	return rounds, s.Sim.Stats().UsersReadByID
}
