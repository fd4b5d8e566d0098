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
	out, err = runCLI(t, s, "tenants", "sync", gone.ID)
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
