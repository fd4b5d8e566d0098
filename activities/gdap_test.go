package activities_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
)

// refuseGDAP answers Graph's GDAP endpoints 403, as for a Partner Center app
// without the Graph permission.
type refuseGDAP struct{ base http.RoundTripper }

func (f refuseGDAP) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/tenantRelationships/") {
		body := `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}`
		return &http.Response{StatusCode: http.StatusForbidden, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}, nil
	}
	return f.base.RoundTrip(r)
}

func (f *fixture) customers(t *testing.T) map[string]store.Customer {
	t.Helper()
	all, err := f.st.ListCustomers(context.Background(), "acme")
	require.NoError(t, err)
	out := map[string]store.Customer{}
	for _, c := range all {
		out[c.TenantID] = c
	}
	return out
}

func (f *fixture) openErrors(t *testing.T, op domain.Operation) map[string]store.IntegrationError {
	t.Helper()
	out := map[string]store.IntegrationError{}
	for _, e := range f.errorRows(t, false) {
		if e.Operation == op {
			out[e.TenantID] = e
		}
	}
	return out
}

// Discovery gives each tenant the relationship Microsoft says it has, keeps
// what its GDAP relationships come to, and records before any licence
// import what stands in the way of a GDAP tenant, naming the missing roles
// and where to add them; a problem gone is resolved.
func TestDiscoveryDetectsRelationshipsAndGDAPProblems(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 51, Tenants: 4, GDAP: 3, UsersPerTenant: 1})
	dap, good, noRole, expired := sc.Tenants[0], sc.Tenants[1], sc.Tenants[2], sc.Tenants[3]
	sc.Tenants[2].MissingGDAPRole = true
	sc.Tenants[3].GDAPStatus = "expired"
	f := authorised(t, sc, domain.DAP) // the partner's default says DAP; Microsoft knows better
	f.discover(t)

	cs := f.customers(t)
	assert.Equal(t, domain.DAP, cs[dap.ID].Relationship)
	for _, tn := range []sim.Tenant{dap, good, noRole, expired} {
		assert.Equal(t, domain.SourceMicrosoft, cs[tn.ID].RelationshipSource, tn.Name)
	}
	for _, tn := range []sim.Tenant{good, noRole, expired} {
		assert.Equal(t, domain.GDAP, cs[tn.ID].Relationship, tn.Name)
		assert.Equal(t, domain.ConsentPending, cs[tn.ID].ConsentState, tn.Name)
	}
	assert.Equal(t, "active", cs[good.ID].GDAP.Status)
	require.NotNil(t, cs[good.ID].GDAP.EndAt)
	assert.Contains(t, cs[good.ID].GDAP.Roles, "88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers, assigned")
	assert.Equal(t, "expired", cs[expired.ID].GDAP.Status)
	assert.False(t, cs[dap.ID].GDAP.Known())

	errs := f.openErrors(t, domain.OpRelationships)
	require.Len(t, errs, 2, "%v", errs)
	missing := errs[noRole.ID]
	assert.Equal(t, domain.CodeGDAPRolesMissing, missing.Code)
	for _, role := range domain.LicenceRoleNames() {
		assert.Contains(t, missing.Message, role)
	}
	assert.Contains(t, missing.Remediation, "Partner Center (Customers, the customer, Admin relationships)")
	assert.Equal(t, domain.CodeGDAPEnded, errs[expired.ID].Code)

	// A problem that persists stays one row; one that changes replaces it.
	f.discover(t)
	errs = f.openErrors(t, domain.OpRelationships)
	require.Len(t, errs, 2)
	assert.Equal(t, 2, errs[noRole.ID].Occurrences)
	require.NoError(t, f.sim.SetGDAPStatus(noRole.ID, "terminated"))
	f.discover(t)
	var rows []string
	for _, e := range f.errorRows(t, false) {
		if e.TenantID == noRole.ID {
			rows = append(rows, e.Code)
		}
	}
	assert.Equal(t, []string{domain.CodeGDAPEnded}, rows)

	// Fixed in Microsoft: the next discovery says so.
	require.NoError(t, f.sim.SetGDAPStatus(noRole.ID, "active"))
	require.NoError(t, f.sim.SetMissingGDAPRole(noRole.ID, false))
	require.NoError(t, f.sim.SetGDAPStatus(expired.ID, "active"))
	f.discover(t)
	assert.Empty(t, f.openErrors(t, domain.OpRelationships))
	assert.Equal(t, "active", f.customers(t)[expired.ID].GDAP.Status)
	assert.True(t, f.customers(t)[expired.ID].RelationshipChanged, "its running workflow is to hear of it")
}

// Relationships Microsoft refuses to show are the partner's error, with the
// fix; the discovery goes on and every tenant keeps what it has.
func TestUnreadableGDAPRelationshipsKeepWhatTenantsHave(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 52, Tenants: 2, GDAP: 1, UsersPerTenant: 1})
	f := authorised(t, sc, domain.DAP)
	f.discover(t)
	gdap := sc.Tenants[1]
	before := f.customers(t)[gdap.ID]
	require.Equal(t, domain.GDAP, before.Relationship)

	base := f.auth.HTTP.Transport
	f.auth.HTTP.Transport = refuseGDAP{base}
	var a *activities.Activities
	_, err := f.env(100).ExecuteActivity(a.DiscoverTenants, "acme")
	require.NoError(t, err, "discovery goes on without them")
	after := f.customers(t)[gdap.ID]
	assert.Equal(t, before.Relationship, after.Relationship)
	assert.Equal(t, before.GDAP, after.GDAP, "what could not be read overwrites nothing")
	errs := f.openErrors(t, domain.OpRelationships)
	require.Contains(t, errs, "", "%v", errs)
	assert.Equal(t, "Authorization_RequestDenied", errs[""].Code)
	assert.Contains(t, errs[""].Remediation, "DelegatedAdminRelationship.Read.All")

	f.auth.HTTP.Transport = base
	f.discover(t)
	assert.NotContains(t, f.openErrors(t, domain.OpRelationships), "", "readable again: resolved")
}
