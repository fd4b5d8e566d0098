package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/workflows"
)

// Licences are read with the partner's token: a tenant still waiting for
// consent imports them on its first run, and syncs nothing through Graph.
func TestTenantWaitingForConsentImportsLicences(t *testing.T) {
	env, _ := tenantEnvWithoutLicences(t)
	var a *activities.Activities
	env.OnActivity(a.ImportLicences, mock.Anything, "p", "t1").Return(activities.LicenceResult{Licences: 3, Subscriptions: 4}, nil).Once()
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		State: workflows.TenantState{Relationship: domain.GDAP, Consent: domain.ConsentPending}})

	in := continuedTenant(t, env)
	require.NotNil(t, in.State.Licences.Last)
	assert.Equal(t, 3, in.State.Licences.Last.Licences)
	assert.False(t, in.State.Licences.LastAt.IsZero())
	assert.Equal(t, 0, in.State.Syncs, "no Graph sync without consent")
	env.AssertExpectations(t)
}

// A licence failure a person must fix (a GDAP role missing) is the tenant's
// licence error, not a block: its Graph sync still runs.
func TestLicenceFailureDoesNotBlockTheTenant(t *testing.T) {
	env, _ := tenantEnvWithoutLicences(t)
	var a *activities.Activities
	env.OnActivity(a.ImportLicences, mock.Anything, "p", "t1").Return(activities.LicenceResult{},
		temporal.NewNonRetryableApplicationError("role", string(domain.NeedsFix), nil, domain.ErrorInfo{Code: "PartnerCenter900150"})).Once()
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{}, nil).Once()
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		State: workflows.TenantState{Relationship: domain.DAP}})

	in := continuedTenant(t, env)
	require.NotNil(t, in.State.Licences.LastError)
	assert.Equal(t, "PartnerCenter900150", in.State.Licences.LastError.Code)
	assert.Nil(t, in.State.Blocked)
	assert.Equal(t, 1, in.State.Syncs)
}

func TestLicenceReauthoriseFailurePausesTenantAndTellsPartner(t *testing.T) {
	env, _ := tenantEnvWithoutLicences(t)
	var a *activities.Activities
	env.OnActivity(a.ImportLicences, mock.Anything, "p", "t1").Return(activities.LicenceResult{},
		temporal.NewNonRetryableApplicationError("revoked", string(domain.Reauthorise), nil, domain.ErrorInfo{Code: "AADSTS50173"})).Once()
	signalled := 0
	env.OnSignalExternalWorkflow(mock.Anything, workflows.PartnerWorkflowID("p"), "", workflows.SignalNeedsReauthorisation.Name, mock.Anything).
		Return(func(_, _, _, _ string, _ any) error { signalled++; return nil })
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		State: workflows.TenantState{Relationship: domain.DAP}})

	in := continuedTenant(t, env)
	assert.True(t, in.State.Paused)
	assert.Equal(t, 1, signalled)
	assert.Equal(t, 0, in.State.Syncs, "no sync after the partner's credentials failed")
}

func TestImportLicencesUpdateReturnsTheCountsOfANewImport(t *testing.T) {
	env, _ := tenantEnv(t)
	var a *activities.Activities
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{}, nil).Maybe()
	var got *activities.LicenceResult
	var rejected error
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateImportLicences.Name, "u", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { rejected = err },
			OnComplete: func(v any, err error) {
				require.NoError(t, err)
				r := v.(activities.LicenceResult)
				got = &r
			},
		}, struct{}{})
	}, time.Minute)
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		State: workflows.TenantState{Relationship: domain.GDAP, Consent: domain.ConsentPending, Licences: importedNow(env)}})

	require.NoError(t, rejected)
	require.NotNil(t, got)
	assert.Equal(t, 2, got.Licences)
}
