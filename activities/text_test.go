package activities_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/text"
)

// Company names and domains come from Partner Center, which takes them from
// whoever set the customer up: discovery stores them cleaned and bounded.
// (An incompressible name of 8,000 characters would not fit the name index.)
func TestDiscoveryStoresCleanBoundedNames(t *testing.T) {
	ctx := context.Background()
	sc := sim.Generate(sim.GenerateOptions{Seed: 11, Tenants: 3})
	random := make([]byte, 4000)
	_, _ = rand.Read(random)
	long := hex.EncodeToString(random)
	sc.Tenants[0].Name = "Evil\x1b]0;pwned\x07\x1b[2J Corp\u202e " + long
	sc.Tenants[1].Name = "\x1b\x07\u202e" // nothing printable: the domain names it
	sc.Tenants[2].Domain = "fabrikam\u202e\u009b.example"

	st, auth := authorisedPartner(t, sc)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Store: st, Auth: auth, DiscoveryPageSize: 10})
	var a *activities.Activities
	_, err := env.ExecuteActivity(a.DiscoverTenants, "acme")
	require.NoError(t, err)

	customers, err := st.ListCustomers(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, customers, 3)
	byTenant := map[string]store.Customer{}
	for _, c := range customers {
		byTenant[c.TenantID] = c
		assert.LessOrEqual(t, len(c.Name), text.MaxName)
		assert.Equal(t, text.Clean(c.Name, text.MaxName), c.Name)
		assert.Equal(t, text.Clean(c.Domain, text.MaxName), c.Domain)
	}
	assert.Regexp(t, `^Evil\]0;pwned\[2J Corp [0-9a-f]+…$`, byTenant[sc.Tenants[0].ID].Name)
	assert.Equal(t, sc.Tenants[1].Domain, byTenant[sc.Tenants[1].ID].Name)
	assert.Equal(t, "fabrikam.example", byTenant[sc.Tenants[2].ID].Domain)
}

// authorisedPartner stores partner "acme" for the simulator and signs its
// admin in, the way the callback does.
func authorisedPartner(t *testing.T, sc sim.Scenario) (*store.Store, *microsoft.Auth) {
	t.Helper()
	ctx := context.Background()
	st, _, _ := testenv.Store(t)
	srv, err := sim.New(sc, sim.Options{StateDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close() })
	hc, err := microsoft.NewHTTPClient(srv.CAFile())
	require.NoError(t, err)
	auth := &microsoft.Auth{HTTP: hc, Cache: st}
	require.NoError(t, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: sc.PartnerTenantID,
		PCClientID: sim.DefaultPCClientID, PCClientSecret: sim.DefaultPCSecret, GraphClientID: sim.DefaultGraphClientID,
		GraphClientSecret: sim.DefaultGraphSecret, AuthorityURL: srv.URL(), PartnerCenterURL: srv.URL(), GraphURL: srv.URL(),
		DefaultRelationship: domain.DAP}))
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
	return st, auth
}
