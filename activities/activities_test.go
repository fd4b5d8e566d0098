package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
)

// appError is the Temporal error an activity failed with.
func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "want an application error, got %v", err)
	return ae
}

// A throttled Partner Center page fails the attempt as retryable, asking
// Temporal to wait as long as Retry-After says; the failure is one error row,
// which the next successful discovery resolves.
func TestThrottledDiscoveryAsksForRetryAfterAndRecordsOneRow(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 31, Tenants: 3}), domain.DAP)
	var a *activities.Activities
	f.sim.SetFault(sim.Fault{API: sim.APIPartnerCenter, Kind: sim.FaultThrottle, Count: 2, RetryAfter: "57"})
	for range 2 {
		_, err := f.env(100).ExecuteActivity(a.DiscoverTenants, "acme")
		ae := appError(t, err)
		assert.Equal(t, string(domain.Retry), ae.Type())
		assert.False(t, ae.NonRetryable())
		assert.Equal(t, 57*time.Second, ae.NextRetryDelay())
		info := activities.ErrorInfoOf(err, domain.OpDiscovery)
		assert.Equal(t, domain.Retry, info.Reaction)
		assert.Equal(t, "HTTP429", info.Code)
	}
	assert.Equal(t, 2, f.sim.Stats().FaultsInjected)

	open := f.errorRows(t, false)
	require.Len(t, open, 1, "one row while the cause persists")
	assert.Equal(t, "HTTP429", open[0].Code)
	assert.Equal(t, domain.OpDiscovery, open[0].Operation)
	assert.Empty(t, open[0].TenantID)
	assert.Equal(t, 2, open[0].Occurrences)

	v, err := f.env(100).ExecuteActivity(a.DiscoverTenants, "acme")
	require.NoError(t, err)
	var res activities.DiscoveryResult
	require.NoError(t, v.Get(&res))
	assert.Equal(t, 3, res.Inserted)
	assert.Empty(t, f.errorRows(t, false), "the successful discovery resolved it")
	assert.Len(t, f.errorRows(t, true), 1)
}

// The Graph SDK retries 503s itself, inside one activity attempt, so a short
// outage costs no Temporal retry and leaves no error; a longer one fails the
// attempt as retryable.
func TestGraphRetriesServiceUnavailableWithinOneAttempt(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 32, Tenants: 1, UsersPerTenant: 1}), domain.DAP)
	f.discover(t)
	tenant := f.sc.Tenants[0]
	var a *activities.Activities

	before := f.sim.Stats().FaultsInjected
	f.sim.SetFault(sim.Fault{API: sim.APIGraph, Kind: sim.Fault5xx, Count: 2, RetryAfter: "0.1"})
	v, err := f.env(100).ExecuteActivity(a.SyncTenant, "acme", tenant.ID)
	require.NoError(t, err, "one attempt rode out two 503s")
	var res activities.TenantSyncResult
	require.NoError(t, v.Get(&res))
	assert.Equal(t, tenant.Name, res.Organization)
	assert.Equal(t, 2, f.sim.Stats().FaultsInjected-before, "both faults were served")
	assert.Empty(t, f.errorRows(t, true))

	// More 503s than the SDK retries (3): the attempt fails, Temporal retries it.
	before = f.sim.Stats().FaultsInjected
	f.sim.SetFault(sim.Fault{API: sim.APIGraph, Kind: sim.Fault5xx, Count: 4, RetryAfter: "0.1"})
	_, err = f.env(100).ExecuteActivity(a.SyncTenant, "acme", tenant.ID)
	ae := appError(t, err)
	assert.Equal(t, string(domain.Retry), ae.Type())
	assert.False(t, ae.NonRetryable())
	assert.Equal(t, 4, f.sim.Stats().FaultsInjected-before, "the first try and three SDK retries")
	rows := f.errorRows(t, false)
	require.Len(t, rows, 1)
	assert.Equal(t, "ServiceUnavailable", rows[0].Code)
	assert.Equal(t, tenant.ID, rows[0].TenantID)
	assert.Equal(t, domain.OpSync, rows[0].Operation)
}

// A Graph refusal for lack of consent moves the stored consent on: a granted
// one becomes revoked, a pending one stays pending; the workflow is told to
// wait for consent, not to retry.
func TestSyncWithoutConsentMovesConsentStateAndWaits(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 33, Tenants: 2, GDAP: 2, UsersPerTenant: 1}), domain.GDAP)
	f.discover(t)
	ctx := context.Background()
	wasGranted, neverGranted := f.sc.Tenants[0], f.sc.Tenants[1]
	require.NoError(t, f.st.SetConsentState(ctx, wasGranted.ID, domain.ConsentGranted)) // then revoked in Microsoft
	var a *activities.Activities

	for _, c := range []struct {
		tenant sim.Tenant
		want   domain.Consent
	}{{wasGranted, domain.ConsentRevoked}, {neverGranted, domain.ConsentPending}} {
		_, err := f.env(100).ExecuteActivity(a.SyncTenant, "acme", c.tenant.ID)
		ae := appError(t, err)
		assert.Equal(t, string(domain.AwaitConsent), ae.Type())
		assert.True(t, ae.NonRetryable())
		cu, err := f.st.GetCustomerByTenant(ctx, c.tenant.ID)
		require.NoError(t, err)
		assert.Equal(t, c.want, cu.ConsentState, c.tenant.Name)
		assert.Nil(t, cu.LastSyncAt)
	}
	rows := f.errorRows(t, false)
	require.Len(t, rows, 2, "one row per tenant")
	for _, r := range rows {
		assert.NotEmpty(t, r.TenantID)
		assert.Contains(t, r.Remediation, "consent")
	}
}

// Unusable partner credentials stop retries, mark the partner for
// re-authorisation and are one partner-level row however many tenants meet
// them.
func TestExpiredSecretMarksPartnerForReauthorisationOnce(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 34, Tenants: 2, UsersPerTenant: 1}), domain.DAP)
	f.discover(t)
	ctx := context.Background()
	f.sim.ExpireSecret(sim.DefaultGraphClientID)
	var a *activities.Activities
	for _, tn := range f.sc.Tenants {
		_, err := f.env(100).ExecuteActivity(a.SyncTenant, "acme", tn.ID)
		ae := appError(t, err)
		assert.Equal(t, string(domain.Reauthorise), ae.Type())
		assert.True(t, ae.NonRetryable())
	}
	p, err := f.st.GetPartner(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, domain.AuthNeedsReauthorisation, p.AuthState)
	rows := f.errorRows(t, false)
	require.Len(t, rows, 1)
	assert.Equal(t, "AADSTS7000222", rows[0].Code)
	assert.Empty(t, rows[0].TenantID, "the partner's credentials: a partner row, not one per tenant")
	assert.Equal(t, 2, rows[0].Occurrences)
}

// A successful sync stamps the tenant and resolves its open sync errors,
// and no one else's.
func TestSyncTenantMarksSyncedAndResolvesItsErrors(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 35, Tenants: 2, UsersPerTenant: 1}), domain.DAP)
	f.discover(t)
	ctx := context.Background()
	synced, other := f.sc.Tenants[0], f.sc.Tenants[1]
	for _, e := range []struct {
		tenant string
		op     domain.Operation
		code   string
	}{{synced.ID, domain.OpSync, "ServiceUnavailable"}, {other.ID, domain.OpSync, "ServiceUnavailable"}, {"", domain.OpDiscovery, "HTTP429"}} {
		require.NoError(t, f.st.RecordError(ctx, "acme", e.tenant, e.op, domain.ErrorInfo{Code: e.code, Reaction: domain.Retry}))
	}
	start := time.Now()
	var a *activities.Activities
	_, err := f.env(100).ExecuteActivity(a.SyncTenant, "acme", synced.ID)
	require.NoError(t, err)

	cu, err := f.st.GetCustomerByTenant(ctx, synced.ID)
	require.NoError(t, err)
	require.NotNil(t, cu.LastSyncAt)
	assert.WithinRange(t, *cu.LastSyncAt, start.Add(-time.Second), time.Now().Add(time.Second))
	untouched, err := f.st.GetCustomerByTenant(ctx, other.ID)
	require.NoError(t, err)
	assert.Nil(t, untouched.LastSyncAt)

	open := map[string]bool{}
	for _, r := range f.errorRows(t, false) {
		open[r.TenantID+"/"+string(r.Operation)] = true
	}
	assert.Equal(t, map[string]bool{other.ID + "/" + string(domain.OpSync): true, "/" + string(domain.OpDiscovery): true}, open)
}

// PostgreSQL failing to save a refreshed token says nothing about the
// partner's sign-in: the attempt is retried and the partner stays
// authorised.
func TestTokenCacheStoreFailureIsRetriedNotReauthorisation(t *testing.T) {
	// One-minute tokens are inside MSAL's expiry margin: every call refreshes and saves.
	f := authorisedWith(t, sim.Generate(sim.GenerateOptions{Seed: 36, Tenants: 2}), sim.Options{AccessTokenLifetime: time.Minute}, domain.DAP)
	ctx := context.Background()
	_, err := f.st.Pool().Exec(ctx, `CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$;
		CREATE TRIGGER test_refuse BEFORE INSERT OR UPDATE ON token_caches FOR EACH ROW EXECUTE FUNCTION test_refuse()`)
	require.NoError(t, err)

	var a *activities.Activities
	_, err = f.env(100).ExecuteActivity(a.DiscoverTenants, "acme")
	ae := appError(t, err)
	assert.Contains(t, ae.Error(), "No space left on device")
	assert.Equal(t, string(domain.Retry), ae.Type())
	assert.False(t, ae.NonRetryable())
	p, err := f.st.GetPartner(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, domain.AuthAuthorised, p.AuthState)
}
