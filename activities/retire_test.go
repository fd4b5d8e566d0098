package activities_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
)

// failCustomersPage answers 503 to the nth request for a customers page, as
// a Partner Center outage in the middle of a discovery.
type failCustomersPage struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen int
	n    int
}

func (f *failCustomersPage) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/v1/customers") && !strings.Contains(strings.TrimPrefix(r.URL.Path, "/v1/customers"), "/") {
		f.mu.Lock()
		f.seen++
		fail := f.seen == f.n
		f.mu.Unlock()
		if fail {
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Content-Type": {"application/json"}},
				Body: http.NoBody, Request: r}, nil
		}
	}
	return f.base.RoundTrip(r)
}

// Only a discovery that read every page itself retires a customer Partner
// Center stopped listing: one that failed part-way, or was resumed from the
// cursor it left, retires no one.
func TestOnlyACompleteDiscoveryRetiresCustomersThatLeft(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 41, Tenants: 3, UsersPerTenant: 1}), domain.DAP)
	ctx := context.Background()
	var a *activities.Activities
	run := func() (activities.DiscoveryResult, error) {
		t.Helper()
		v, err := f.env(1).ExecuteActivity(a.DiscoverTenants, "acme")
		var res activities.DiscoveryResult
		if err == nil {
			require.NoError(t, v.Get(&res))
		}
		return res, err
	}
	leftAt := func(tenant string) *time.Time {
		t.Helper()
		cu, err := f.st.GetCustomerByTenant(ctx, tenant)
		require.NoError(t, err)
		return cu.LeftAt
	}
	_, err := run()
	require.NoError(t, err)
	gone := f.sc.Tenants[1]
	before, err := f.st.GetCustomerByTenant(ctx, gone.ID)
	require.NoError(t, err)
	require.NoError(t, f.sim.RemoveCustomer(gone.ID))

	// Partner Center fails on the second of the two pages left.
	base := f.auth.HTTP.Transport
	f.auth.HTTP.Transport = &failCustomersPage{base: base, n: 2}
	_, err = run()
	require.Error(t, err)
	assert.Nil(t, leftAt(gone.ID), "a discovery that failed part-way retires no one")

	// The retry resumes at the page that failed: it reads the rest, but not every page itself.
	f.auth.HTTP.Transport = base
	res, err := run()
	require.NoError(t, err)
	assert.True(t, res.Resumed)
	assert.Zero(t, res.Left)
	assert.Nil(t, leftAt(gone.ID), "a resumed discovery retires no one")

	// The next discovery reads every page: the customer has left, and is kept.
	res, err = run()
	require.NoError(t, err)
	assert.False(t, res.Resumed)
	assert.Equal(t, 1, res.Left)
	require.NotNil(t, leftAt(gone.ID))
	res, err = run()
	require.NoError(t, err)
	assert.Zero(t, res.Left, "counted once")

	// Listed again, it is the same customer.
	require.NoError(t, f.sim.RestoreCustomer(gone.ID))
	res, err = run()
	require.NoError(t, err)
	assert.Equal(t, 1, res.Returned)
	after, err := f.st.GetCustomerByTenant(ctx, gone.ID)
	require.NoError(t, err)
	assert.Nil(t, after.LeftAt)
	assert.Equal(t, before.ID, after.ID)
}

// fakeTenants records what EnsureTenants asks of the tenant workflows.
type fakeTenants struct {
	mu      sync.Mutex
	ensured []string
	retired []string
	running bool // whether a retired tenant's workflow was running
}

func (f *fakeTenants) EnsureTenant(_ context.Context, _ string, t activities.TenantInfo, _ activities.TenantSettings) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ensured = append(f.ensured, t.TenantID)
	return nil
}
func (f *fakeTenants) PauseTenant(context.Context, string, string, string) error { return nil }
func (f *fakeTenants) ResumeTenant(context.Context, string, string) error        { return nil }
func (f *fakeTenants) TellRelationship(context.Context, string, activities.TenantInfo) error {
	return nil
}
func (f *fakeTenants) RetireTenant(_ context.Context, _, tenantID string, _ time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retired = append(f.retired, tenantID)
	return f.running, nil
}

// EnsureTenants ends the workflow of a tenant that left, once, and records
// it as Left itself when no workflow of the tenant runs.
func TestEnsureTenantsRetiresTenantsThatLeftOnce(t *testing.T) {
	f := authorised(t, sim.Generate(sim.GenerateOptions{Seed: 42, Tenants: 2, UsersPerTenant: 1}), domain.DAP)
	f.discover(t)
	ctx := context.Background()
	gone, kept := f.sc.Tenants[0], f.sc.Tenants[1]
	require.NoError(t, f.sim.RemoveCustomer(gone.ID))
	f.discover(t)
	ensure := func(ft *fakeTenants) {
		t.Helper()
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(&activities.Activities{Store: f.st, Auth: f.auth, Tenants: ft})
		var a *activities.Activities
		_, err := env.ExecuteActivity(a.EnsureTenants, "acme", activities.TenantSettings{})
		require.NoError(t, err)
	}
	ft := &fakeTenants{running: false}
	ensure(ft)
	assert.Equal(t, []string{kept.ID}, ft.ensured, "no workflow is started for a tenant that left")
	assert.Equal(t, []string{gone.ID}, ft.retired)
	cu, err := f.st.GetCustomerByTenant(ctx, gone.ID)
	require.NoError(t, err)
	assert.Equal(t, domain.TenantLeft, cu.SyncState, "no workflow ran: recorded here")
	assert.Equal(t, domain.LeftReason(*cu.LeftAt), cu.SyncReason)

	ft = &fakeTenants{}
	ensure(ft)
	assert.Empty(t, ft.retired, "a tenant recorded as Left is not signalled again")
}
