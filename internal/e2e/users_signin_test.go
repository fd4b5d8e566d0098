package e2e

import (
	"context"
	"strings"
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

// A tenant without Entra ID P1/P2: the sign-in pass is refused once, recorded as one
// tenant-level error with the catalogue's fix while rounds go on without last sign-in dates;
// buying Entra ID P1 makes the next round ask again at once, and the error clears.
func TestNonPremiumSignInErrorClearsWhenTheTenantGainsPremium(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 27, Tenants: 1, UsersPerTenant: 8})
	tn := &sc.Tenants[0]
	tn.PremiumLicence = false
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, *tn) })
	syncUsers(t, s, tn.ID)
	syncUsers(t, s, tn.ID)

	signInErrors := func() []store.IntegrationError {
		t.Helper()
		errs, err := s.Store.ListErrors(context.Background(), "acme", false)
		require.NoError(t, err)
		var out []store.IntegrationError
		for _, e := range errs {
			if e.Operation == domain.OpSignIns && strings.EqualFold(e.TenantID, tn.ID) {
				out = append(out, e)
			}
		}
		return out
	}
	errs := signInErrors()
	require.Len(t, errs, 1, "one tenant-level error")
	assert.Equal(t, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", errs[0].Code)
	assert.Equal(t, 1, errs[0].Occurrences, "the second round does not ask again the same day")
	assert.Contains(t, errs[0].Remediation, "Entra ID P1")

	_, err := s.Sim.AddSubscription(tn.ID, sim.Subscription{SkuID: "078d2b04-f1bd-4111-bbd4-b4b1b354cef4", Quantity: 5})
	require.NoError(t, err)
	importLicences(t, s)
	syncUsers(t, s, tn.ID)
	assert.Empty(t, signInErrors(), "the error clears once the tenant is premium")
	ctx := context.Background()
	cu, err := s.Store.GetCustomerByTenant(ctx, tn.ID)
	require.NoError(t, err)
	us, err := s.Store.ListUsers(ctx, cu.ID)
	require.NoError(t, err)
	signedIn := 0
	for _, u := range us {
		if !u.LastSignIn.IsZero() {
			signedIn++
		}
	}
	assert.Positive(t, signedIn, "last sign-in dates arrive")
}
