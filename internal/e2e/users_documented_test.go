package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// Microsoft's documented users/delta example ("Get incremental changes for users": three pages,
// a round with no changes, then a rename and a removal) served verbatim to one tenant in front
// of the simulator, as a real tenant would answer. Its users carry only displayName, givenName
// and surname: what Microsoft leaves out is unknown, so the seven users are created active and
// no log row claims a value Microsoft never sent.
func TestUsersRoundsOnMicrosoftsDocumentedDeltaSequence(t *testing.T) {
	rec, err := sim.LoadRecordedDelta("../sim/testdata/graph/users-delta-concept-example.json")
	require.NoError(t, err)
	documented := []struct{ id, name, given, surname string }{
		{"ffff7b1a-13b6-477b-8c0c-380905cd99f7", "Cameron White", "Cameron", "White"},
		{"605d1257-ffff-40b6-8e6f-528a53f5dc55", "Delia Dennis", "Delia", "Dennis"},
		{"6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0", "Conf Room Adams", "", ""},
		{"d8c37826-ffff-4cae-b348-e2725b1e814b", "Mallory Cortez", "Mallory", "Cortez"},
		{"8b1ee412-cd8f-4d59-ffff-24010edb9f1f", "Diego Sicilian", "Diego", "Sicilian"},
		{"25dcffff-959e-4ece-9973-e5d9b800e8cc", "Lidia Holloway", "Lidia", "Holloway"},
		{"f6ede700-27d0-4c42-bfb9-4dffff43c74a", "Patti Fernandez", "Patti", "Fernandez"},
	}
	removed := []string{"86462606-fde0-4fc4-9e0c-a20eb73e54c6", "8ffff70c-1c63-4860-b963-e34ec660931d"}
	lidia := documented[5].id

	// The tenant's directory holds the documented users too, for what is read by id.
	sc := sim.Generate(sim.GenerateOptions{Seed: 20, Tenants: 1, UsersPerTenant: 1})
	tn := &sc.Tenants[0]
	for _, d := range documented {
		tn.Users = append(tn.Users, sim.TenantUser{ID: d.id, DisplayName: d.name, GivenName: d.given, Surname: d.surname,
			UserPrincipalName: d.id[:8] + "@" + tn.Domain, AccountEnabled: true, CreatedDateTime: time.Date(2024, 1, 12, 0, 0, 0, 0, time.UTC)})
	}
	s := testenv.NewStack(t, sc, sim.Options{})
	require.NoError(t, s.Sim.ServeRecordedDelta(tn.ID, rec))
	s.StartWorker()
	authorise(t, s, connectOpts{})
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, *tn) })

	// Round 1, the tenant's first cycle: three documented pages.
	require.Eventually(t, func() bool { return finishedRounds(t, s) == 1 }, 2*time.Minute, 100*time.Millisecond)
	first := psaUsers(t, s, tn.ID)
	require.Len(t, first, len(documented), "the seven documented users, nothing for the removed one")
	for _, d := range documented {
		r := row(t, first, d.id)
		assert.Equal(t, d.name, r.Name)
		assert.True(t, r.Active, "%s: accountEnabled was left out, so he is active", d.name)
		assert.Equal(t, "Main", r.Site)
	}
	for _, d := range documented {
		out := mustCLI(t, s, "log", "--tenant", tn.ID, "--user", d.id)
		assert.Contains(t, out, "created")
		assert.NotContains(t, out, "accountEnabled", "no reason claims what Microsoft did not send")
	}

	// Round 2: the documented round without changes.
	assert.Contains(t, syncUsers(t, s, tn.ID), "delta users round: 0 users")
	assert.Equal(t, first, psaUsers(t, s, tn.ID), "no change")

	// Round 3: Lidia renamed (read again by id, as the page sends her in part) and a removal of
	// a user never seen.
	mod, given, surname := "MOD Administrator", "MOD", "Administrator"
	require.NoError(t, s.Sim.UpdateUser(tn.ID, lidia, sim.UserPatch{DisplayName: &mod, GivenName: &given, Surname: &surname}))
	assert.Contains(t, syncUsers(t, s, tn.ID), "delta users round")
	third := psaUsers(t, s, tn.ID)
	require.Len(t, third, len(documented))
	renamed := row(t, third, lidia)
	assert.Equal(t, mod, renamed.Name)
	assert.True(t, renamed.Active)
	for _, d := range documented {
		if d.id != lidia {
			assert.Equal(t, row(t, first, d.id), row(t, third, d.id), d.name)
		}
	}
	for _, id := range removed {
		assert.NotContains(t, third, id, "nothing is created for a removed user never seen")
	}
	var served int
	require.NoError(t, s.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM user_rounds WHERE finished_at IS NOT NULL`).Scan(&served))
	assert.Equal(t, 3, served, "three rounds, each ending at a documented deltaLink")
}
