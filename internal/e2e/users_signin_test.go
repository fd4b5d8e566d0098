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

// TestUsersNeverSignedInHaveNoLastSignIn: Graph reports a user who never
// signed in with the year-1 date and an empty request id; his PSA user has
// no last sign-in (not the year 1), and a user who signed in has his date.
func TestUsersNeverSignedInHaveNoLastSignIn(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 26, Tenants: 1, UsersPerTenant: 12})
	tn := &sc.Tenants[0]
	tn.PremiumLicence = true
	at := time.Date(2025, 5, 1, 9, 30, 0, 0, time.UTC)
	never, signedIn := &tn.Users[3], &tn.Users[4]
	never.LastSignIn, never.LastNonInteractiveSignIn = nil, nil
	signedIn.LastSignIn, signedIn.LastNonInteractiveSignIn = &at, nil
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, *tn) })
	syncUsers(t, s, tn.ID)

	ctx := context.Background()
	cu, err := s.Store.GetCustomerByTenant(ctx, tn.ID)
	require.NoError(t, err)
	us, err := s.Store.ListUsers(ctx, cu.ID)
	require.NoError(t, err)
	last := map[string]*time.Time{}
	for _, u := range us {
		last[u.AzureObjectID] = nil
		if !u.LastSignIn.IsZero() {
			last[u.AzureObjectID] = &u.LastSignIn
		}
	}
	require.Contains(t, last, never.ID)
	assert.Nil(t, last[never.ID], "a user who never signed in has no last sign-in")
	require.NotNil(t, last[signedIn.ID], "the sign-in pass ran")
	assert.True(t, at.Equal(*last[signedIn.ID]), "%v", last[signedIn.ID])
}
