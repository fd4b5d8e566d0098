package activities_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// fixture is a partner authorised against the simulator, on a fresh
// database: what an activity finds once `cspsync connect` and the sign-in
// callback have run.
type fixture struct {
	st   *store.Store
	sim  *sim.Server
	sc   sim.Scenario
	auth *microsoft.Auth
}

// authorised connects partner "acme" (default relationship rel) to a
// simulator of sc and signs its admin in, the way the callback does.
func authorised(t *testing.T, sc sim.Scenario, rel domain.Relationship, opts ...store.Option) *fixture {
	t.Helper()
	return authorisedWith(t, sc, sim.Options{}, rel, opts...)
}

// authorisedWith is authorised on a simulator with simOpts.
func authorisedWith(t *testing.T, sc sim.Scenario, simOpts sim.Options, rel domain.Relationship, opts ...store.Option) *fixture {
	t.Helper()
	ctx := context.Background()
	st, _, _ := testenv.Store(t, opts...)
	simOpts.StateDir = t.TempDir()
	srv, err := sim.New(sc, simOpts)
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close() })
	hc, err := microsoft.NewHTTPClient(srv.CAFile())
	require.NoError(t, err)
	auth := &microsoft.Auth{HTTP: hc, Cache: st}

	require.NoError(t, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: sc.PartnerTenantID,
		PCClientID: sim.DefaultPCClientID, PCClientSecret: sim.DefaultPCSecret, GraphClientID: sim.DefaultGraphClientID,
		GraphClientSecret: sim.DefaultGraphSecret, AuthorityURL: srv.URL(), PartnerCenterURL: srv.URL(), GraphURL: srv.URL(),
		DefaultRelationship: rel}))
	creds, err := st.Credentials(ctx, "acme")
	require.NoError(t, err)
	verifier, challenge := microsoft.PKCE()
	redirect := "http://localhost:8400/auth/callback"
	u, err := auth.AuthorizeURL(ctx, creds, redirect, "state", challenge)
	require.NoError(t, err)
	back, err := sim.SignIn(ctx, hc, u, sim.DefaultAdminUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	require.NoError(t, err)
	account, err := auth.RedeemCode(ctx, creds, back.Query().Get("code"), verifier, redirect)
	require.NoError(t, err)
	require.NoError(t, st.SetPartnerAuthorised(ctx, "acme", account))
	return &fixture{st: st, sim: srv, sc: sc, auth: auth}
}

// env is a fresh activity environment running the activities with pageSize.
func (f *fixture) env(pageSize int) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Store: f.st, Auth: f.auth, DiscoveryPageSize: pageSize})
	return env
}

// discover imports the scenario's tenants as customers.
func (f *fixture) discover(t *testing.T) {
	t.Helper()
	var a *activities.Activities
	_, err := f.env(100).ExecuteActivity(a.DiscoverTenants, "acme")
	require.NoError(t, err)
}

// errorRows returns the partner's integration errors (open only unless all).
func (f *fixture) errorRows(t *testing.T, all bool) []store.IntegrationError {
	t.Helper()
	rows, err := f.st.ListErrors(context.Background(), "acme", all)
	require.NoError(t, err)
	return rows
}
