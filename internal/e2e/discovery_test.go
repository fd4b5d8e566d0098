package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// kept counts what cspsync holds of a customer: its PSA users from
// Microsoft, its licences and its users rounds.
type kept struct{ users, licences, rounds int }

func keptOf(t *testing.T, s *testenv.Stack, customerID int64) kept {
	t.Helper()
	var k kept
	require.NoError(t, s.Store.Pool().QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM psa_users WHERE customer_id = $1 AND azure_object_id IS NOT NULL),
		(SELECT count(*) FROM licences WHERE customer_id = $1),
		(SELECT count(*) FROM user_rounds WHERE customer_id = $1)`, customerID).Scan(&k.users, &k.licences, &k.rounds))
	return k
}

func workflowStatus(t *testing.T, s *testenv.Stack, tenantID string) enumspb.WorkflowExecutionStatus {
	t.Helper()
	desc, err := s.Client.DescribeWorkflow(context.Background(), workflows.TenantWorkflowID("acme", tenantID), "")
	require.NoError(t, err)
	return desc.Status
}

// A tenant removed from Partner Center is retired by the next discovery: its
// customer, users and licences are kept, its workflow ends, `tenants list`
// and `status` show it; listed again, it comes back as the same customer.
func TestDiscoveryRetiresTenantThatLeftPartnerCenterAndItComesBackAsTheSameCustomer(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 43, Tenants: 3, UsersPerTenant: 4})
	gone, stays := sc.Tenants[1], sc.Tenants[0]
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	ts := waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		if !allIn(ts, domain.TenantReady, sc.Tenants...) {
			return false
		}
		k := keptOf(t, s, ts[gone.ID].ID)
		return k.users > 0 && k.licences > 0 && k.rounds > 0
	})
	customerID := ts[gone.ID].ID
	before := keptOf(t, s, customerID)

	require.NoError(t, s.Sim.RemoveCustomer(gone.ID))
	out, err := runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "2m")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Discovered 2 tenants")
	assert.Contains(t, out, "1 tenants left Partner Center")
	ts = waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return ts[gone.ID].SyncState == domain.TenantLeft })
	require.NotNil(t, ts[gone.ID].LeftAt)
	assert.Equal(t, domain.LeftReason(*ts[gone.ID].LeftAt), ts[gone.ID].SyncReason)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflowStatus(t, s, gone.ID), "its workflow ended, timers and all")
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflowStatus(t, s, stays.ID))
	assert.Equal(t, before, keptOf(t, s, customerID), "users, licences and rounds are kept")

	out, err = runCLI(t, s, "tenants", "list")
	require.NoError(t, err, out)
	assert.Regexp(t, gone.ID+`.*Left.*Partner Center no longer lists this customer`, out)
	out, err = runCLI(t, s, "status")
	require.NoError(t, err, out)
	assert.Contains(t, out, "2 Ready, 1 Left")
	_, err = runCLI(t, s, "tenants", "sync", gone.ID)
	require.Error(t, err, "nothing to sync for a tenant that left")
	assert.Contains(t, err.Error(), "has left Partner Center")

	// A discovery while it is still gone changes nothing.
	out, err = runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "2m")
	require.NoError(t, err, out)
	assert.NotContains(t, out, "left Partner Center")

	// Back in Partner Center: the same customer, with what it had, works again.
	require.NoError(t, s.Sim.RestoreCustomer(gone.ID))
	out, err = runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "2m")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Discovered 3 tenants: 0 new")
	assert.Contains(t, out, "1 of them had left Partner Center and are back")
	ts = waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		return ts[gone.ID].SyncState == domain.TenantReady && keptOf(t, s, customerID).rounds > before.rounds
	})
	assert.Equal(t, customerID, ts[gone.ID].ID)
	assert.Nil(t, ts[gone.ID].LeftAt)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflowStatus(t, s, gone.ID))
	after := keptOf(t, s, customerID)
	assert.Equal(t, before.users, after.users, "its users are the same users, not new ones")
	assert.Equal(t, before.licences, after.licences)
}

// relationshipErrors are the open errors discovery recorded from the
// partner's GDAP relationships, by tenant.
func relationshipErrors(t *testing.T, s *testenv.Stack) map[string]store.IntegrationError {
	t.Helper()
	all, err := s.Store.ListErrors(context.Background(), "acme", false)
	require.NoError(t, err)
	out := map[string]store.IntegrationError{}
	for _, e := range all {
		if e.Operation == domain.OpRelationships {
			out[e.TenantID] = e
		}
	}
	return out
}

// GDAP detected, not assumed: with a partner default of DAP, a GDAP-only
// tenant is imported as GDAP; one whose relationship lacks the licence
// roles has an error naming them before any licence import fails; a
// relationship that expires is shown and pauses its tenant until a new one
// is active; an override by hand wins over what Microsoft says.
func TestDiscoveryDetectsGDAPRelationshipsFromMicrosoft(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 44, Tenants: 4, GDAP: 3, UsersPerTenant: 2})
	dap, gdap, noRole, overridden := sc.Tenants[0], sc.Tenants[1], sc.Tenants[2], sc.Tenants[3]
	sc.Tenants[2].MissingGDAPRole = true
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{relationship: "DAP"})

	ts := waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		return ts[dap.ID].SyncState == domain.TenantReady && allIn(ts, domain.TenantAwaitingConsent, gdap, noRole, overridden)
	})
	for _, tn := range []sim.Tenant{gdap, noRole, overridden} {
		assert.Equal(t, domain.GDAP, ts[tn.ID].Relationship, "no override: Microsoft's answer (%s)", tn.Name)
		assert.Equal(t, domain.SourceMicrosoft, ts[tn.ID].RelationshipSource)
	}
	assert.Equal(t, domain.DAP, ts[dap.ID].Relationship)
	out, err := runCLI(t, s, "tenants", "list")
	require.NoError(t, err, out)
	assert.Regexp(t, gdap.ID+`\s+.*GDAP\s+microsoft\s+active until 20\d\d-\d\d-\d\d\s+pending\s+AwaitingConsent`, out)
	assert.Regexp(t, dap.ID+`\s+.*DAP\s+microsoft\s+-\s+not_required\s+Ready`, out)

	// The missing roles are named, with where to add them, before the
	// licence import fails.
	errs := relationshipErrors(t, s)
	require.Contains(t, errs, noRole.ID, "%v", errs)
	missing := errs[noRole.ID]
	assert.Equal(t, domain.CodeGDAPRolesMissing, missing.Code)
	for _, role := range []string{"Directory Readers", "Global Reader", "User Administrator", "License Administrator"} {
		assert.Contains(t, missing.Message, role)
	}
	assert.Contains(t, missing.Remediation, "Admin relationships")
	assert.NotContains(t, errs, gdap.ID)
	licenceFailed := func() *store.IntegrationError {
		for _, e := range licenceErrors(t, s) {
			if e.TenantID == noRole.ID {
				return &e
			}
		}
		return nil
	}
	require.Eventually(t, func() bool { return licenceFailed() != nil }, time.Minute, 100*time.Millisecond)
	assert.True(t, missing.FirstSeenAt.Before(licenceFailed().FirstSeenAt), "known before the import failed")
	out, err = runCLI(t, s, "errors", "list")
	require.NoError(t, err, out)
	assert.Contains(t, out, domain.CodeGDAPRolesMissing)

	// The override wins, and says so (the Graph app can read that tenant).
	require.NoError(t, s.Sim.GrantConsent(overridden.ID))
	out, err = runCLI(t, s, "tenants", "set-relationship", overridden.ID, "DAP")
	require.NoError(t, err, out)
	assert.Contains(t, out, "An override")

	// GDAP tenant consented, then its relationship expires.
	require.NoError(t, s.Sim.GrantConsent(gdap.ID))
	_, err = runCLI(t, s, "consent", "grant", gdap.ID)
	require.NoError(t, err)
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantReady, gdap, overridden) && ts[gdap.ID].LastSyncAt != nil
	})
	require.NoError(t, s.Sim.SetGDAPStatus(gdap.ID, "expired"))
	require.NoError(t, s.Sim.SetGDAPStatus(overridden.ID, "expired"))
	out, err = runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "2m")
	require.NoError(t, err, out)
	ts = waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return ts[gdap.ID].SyncState == domain.TenantPaused })
	assert.Contains(t, ts[gdap.ID].SyncReason, "is expired")
	assert.Contains(t, ts[gdap.ID].SyncReason, "request a new GDAP relationship")
	assert.Equal(t, domain.TenantReady, ts[overridden.ID].SyncState, "overridden to DAP: its GDAP relationship does not pause it")
	assert.Equal(t, domain.DAP, ts[overridden.ID].Relationship)
	assert.Equal(t, domain.SourceOverride, ts[overridden.ID].RelationshipSource)
	out, err = runCLI(t, s, "tenants", "list")
	require.NoError(t, err, out)
	assert.Regexp(t, gdap.ID+`\s+.*GDAP\s+microsoft\s+expired 20\d\d-\d\d-\d\d\s+granted\s+Paused`, out)
	assert.Regexp(t, overridden.ID+`\s+.*DAP\s+override\s+expired`, out)
	assert.Equal(t, domain.CodeGDAPEnded, relationshipErrors(t, s)[gdap.ID].Code)
	out, err = runCLI(t, s, "licences", "import", "--tenant", gdap.ID, "--wait", "--timeout", "1m")
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "is paused: the GDAP relationship")

	// A new relationship is active: the next discovery resumes the tenant.
	require.NoError(t, s.Sim.SetGDAPStatus(gdap.ID, "active"))
	out, err = runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "2m")
	require.NoError(t, err, out)
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		return ts[gdap.ID].SyncState == domain.TenantReady && ts[gdap.ID].GDAP.Active()
	})
	assert.NotContains(t, relationshipErrors(t, s), gdap.ID)
}
