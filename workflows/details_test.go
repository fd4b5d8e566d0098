package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/workflows"
)

// currentDetails reads what the Temporal UI shows as the workflow's current
// details (it asks the same built-in query).
func currentDetails(t *testing.T, env *testsuite.TestWorkflowEnvironment) string {
	t.Helper()
	v, err := env.QueryWorkflow("__temporal_workflow_metadata")
	require.NoError(t, err)
	var md sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&md))
	return md.GetCurrentDetails()
}

// A tenant waiting for consent says so in the Temporal UI, and since when;
// the time stays while it waits for the same thing.
func TestTenantCurrentDetailsSayWhatItWaitsForAndSinceWhen(t *testing.T) {
	env, _ := tenantEnv(t)
	start := env.Now().UTC()
	var first, later string
	env.RegisterDelayedCallback(func() { first = currentDetails(t, env) }, 10*time.Minute)
	env.RegisterDelayedCallback(func() {
		later = currentDetails(t, env)
		env.CancelWorkflow()
	}, 40*time.Minute)
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		Settings: activities.TenantSettings{SyncInterval: time.Hour},
		State:    workflows.TenantState{CustomerName: "Contoso Ltd", Relationship: domain.GDAP, Consent: domain.ConsentPending, Licences: importedNow(env)}})

	assert.Contains(t, first, "**AwaitingConsent**")
	assert.Contains(t, first, "Waiting since "+start.Format("2006-01-02 15:04 UTC")+" for the customer's admin consent (`cspsync consent url t1`)")
	assert.Contains(t, first, "or the next licence import at "+start.Add(time.Hour).Format("2006-01-02 15:04 UTC"))
	assert.Equal(t, first, later, "the same wait keeps its start")
}

// A Ready tenant between cycles waits for its next sync.
func TestReadyTenantCurrentDetailsNameTheNextSync(t *testing.T) {
	env, _ := tenantEnv(t)
	start := env.Now().UTC()
	var got string
	env.RegisterDelayedCallback(func() {
		got = currentDetails(t, env)
		env.CancelWorkflow()
	}, 5*time.Minute)
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		Settings: activities.TenantSettings{SyncInterval: time.Hour},
		State: workflows.TenantState{CustomerName: "Contoso Ltd", Relationship: domain.DAP, LastSyncAt: env.Now(), Syncs: 1,
			Licences: importedNow(env)}})

	assert.Contains(t, got, "**Ready**")
	assert.Contains(t, got, "Waiting since "+start.Format("2006-01-02 15:04 UTC")+" for a request (`cspsync sync --tenant t1`), or the next sync at "+
		start.Add(time.Hour).Format("2006-01-02 15:04 UTC"))
}
