package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/workflows"
)

func tenantEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *[]domain.TenantState) {
	env, states := tenantEnvWithoutLicences(t)
	var a *activities.Activities
	env.OnActivity(a.ImportLicences, mock.Anything, "p", "t1").Return(activities.LicenceResult{Licences: 2}, nil).Maybe()
	return env, states
}

// tenantEnvWithoutLicences leaves the licence import for the test to mock.
func tenantEnvWithoutLicences(t *testing.T) (*testsuite.TestWorkflowEnvironment, *[]domain.TenantState) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	var a *activities.Activities
	var states []domain.TenantState
	env.OnActivity(a.RecordTenantState, mock.Anything, "t1", mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ string, state domain.TenantState, _ string) error {
			states = append(states, state)
			return nil
		})
	return env, &states
}

// importedNow is a licence import that has just run, so a tenant waiting for
// consent has no licence import due.
func importedNow(env *testsuite.TestWorkflowEnvironment) workflows.LicenceState {
	return workflows.LicenceState{LastAt: env.Now()}
}

func continuedTenant(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.TenantInput {
	return continuedInput[workflows.TenantInput](t, env)
}

func queryTenant(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.TenantState {
	return query[workflows.TenantState](t, env, workflows.QueryTenantState.Name)
}

func TestGDAPTenantWaitsForConsentThenSyncs(t *testing.T) {
	env, states := tenantEnv(t)
	var a *activities.Activities
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{Organization: "Contoso"}, nil).Once()
	env.RegisterDelayedCallback(func() {
		st := queryTenant(t, env)
		assert.Equal(t, domain.TenantAwaitingConsent, st.Status)
		env.SignalWorkflow(workflows.SignalConsent.Name, workflows.ConsentChange{Granted: true})
	}, 30*time.Minute) // before the next hourly licence import
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		State: workflows.TenantState{Relationship: "GDAP", Consent: domain.ConsentPending, Licences: importedNow(env)}})

	in := continuedTenant(t, env)
	assert.Equal(t, 1, in.State.Syncs)
	assert.Equal(t, domain.ConsentGranted, in.State.Consent)
	assert.Equal(t, 1, in.State.Runs)
	assert.Equal(t, []domain.TenantState{domain.TenantAwaitingConsent, domain.TenantReady, domain.TenantSyncing}, *states)
	env.AssertExpectations(t)
}

func TestDAPTenantSyncsAtOnceAndOnTheInterval(t *testing.T) {
	env, _ := tenantEnv(t)
	var a *activities.Activities
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{}, nil).Once()
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		Settings: activities.TenantSettings{SyncInterval: time.Hour}, State: workflows.TenantState{Relationship: "DAP"}})
	in := continuedTenant(t, env)
	assert.Equal(t, domain.ConsentNotRequired, in.State.Consent)
	assert.Equal(t, 1, in.State.Syncs)

	// The continued run waits for the interval, then syncs again.
	env2, _ := tenantEnv(t)
	env2.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{}, nil).Once()
	start := env2.Now()
	env2.ExecuteWorkflow(workflows.TenantWorkflow, in)
	in2 := continuedTenant(t, env2)
	assert.Equal(t, 2, in2.State.Syncs)
	assert.GreaterOrEqual(t, env2.Now().Sub(start), 59*time.Minute)
}

func TestRevokedConsentSendsTenantBackToAwaitingConsent(t *testing.T) {
	env, _ := tenantEnv(t)
	var a *activities.Activities
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{},
		temporal.NewNonRetryableApplicationError("gone", string(domain.AwaitConsent), nil, domain.ErrorInfo{Code: "Authorization_IdentityNotFound"})).Once()
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		Settings: activities.TenantSettings{SyncInterval: time.Hour},
		State:    workflows.TenantState{Relationship: "GDAP", Consent: domain.ConsentGranted}})
	in := continuedTenant(t, env)
	assert.Equal(t, domain.ConsentRevoked, in.State.Consent)
	assert.Equal(t, "Authorization_IdentityNotFound", in.State.LastError.Code)

	// The continued run waits in AwaitingConsent without syncing (its next
	// licence import is an hour away), until consent is granted again.
	env2, states := tenantEnv(t)
	env2.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{}, nil).Once()
	env2.RegisterDelayedCallback(func() {
		st := queryTenant(t, env2)
		assert.Equal(t, domain.TenantAwaitingConsent, st.Status)
		assert.Contains(t, st.Reason, "consent")
		assert.Equal(t, 0, st.Syncs)
		env2.SignalWorkflow(workflows.SignalConsent.Name, workflows.ConsentChange{Granted: true})
	}, 50*time.Minute)
	env2.ExecuteWorkflow(workflows.TenantWorkflow, in)
	in2 := continuedTenant(t, env2)
	assert.Equal(t, []domain.TenantState{domain.TenantAwaitingConsent, domain.TenantReady, domain.TenantSyncing}, *states)
	assert.Equal(t, domain.ConsentGranted, in2.State.Consent)
	assert.Equal(t, 1, in2.State.Syncs)
	env2.AssertExpectations(t)
}

func TestReauthoriseFailurePausesTenantAndTellsPartner(t *testing.T) {
	env, _ := tenantEnv(t)
	var a *activities.Activities
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{},
		temporal.NewNonRetryableApplicationError("expired", string(domain.Reauthorise), nil, domain.ErrorInfo{Code: "AADSTS7000222"})).Once()
	var signalled []string
	env.OnSignalExternalWorkflow(mock.Anything, workflows.PartnerWorkflowID("p"), "", workflows.SignalNeedsReauthorisation.Name, mock.Anything).
		Return(func(_, workflowID, _, name string, _ any) error {
			signalled = append(signalled, workflowID)
			return nil
		})
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		State: workflows.TenantState{Relationship: "DAP"}})
	in := continuedTenant(t, env)
	assert.True(t, in.State.Paused)
	assert.Contains(t, in.State.PauseReason, "AADSTS7000222")
	assert.Equal(t, []string{"partner/p"}, signalled)

	// Paused, it waits; resume makes it sync again.
	env2, _ := tenantEnv(t)
	env2.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{}, nil).Once()
	env2.RegisterDelayedCallback(func() {
		assert.Equal(t, domain.TenantPaused, queryTenant(t, env2).Status)
		env2.SignalWorkflow(workflows.SignalResume.Name, struct{}{})
	}, 24*time.Hour)
	env2.ExecuteWorkflow(workflows.TenantWorkflow, in)
	in2 := continuedTenant(t, env2)
	assert.False(t, in2.State.Paused)
	assert.Equal(t, 1, in2.State.Syncs)
}

func TestRelationshipOverrideAppliesToRunningTenant(t *testing.T) {
	env, _ := tenantEnv(t)
	var a *activities.Activities
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{}, nil).Once()
	env.RegisterDelayedCallback(func() {
		assert.Equal(t, domain.TenantAwaitingConsent, queryTenant(t, env).Status)
		env.SignalWorkflow(workflows.SignalRelationship.Name, workflows.RelationshipChange{Relationship: "DAP"})
	}, time.Minute)
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		State: workflows.TenantState{Relationship: "GDAP", Consent: domain.ConsentPending, Licences: importedNow(env)}})
	in := continuedTenant(t, env)
	assert.Equal(t, domain.DAP, in.State.Relationship)
	assert.Equal(t, domain.ConsentNotRequired, in.State.Consent)
	assert.Equal(t, 1, in.State.Syncs)
}

func TestReadyTenantShowsItsLastTransientFailureUntilASyncSucceeds(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	var a *activities.Activities
	var reasons []string
	env.OnActivity(a.RecordTenantState, mock.Anything, "t1", mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ string, state domain.TenantState, reason string) error {
			reasons = append(reasons, string(state)+"|"+reason)
			return nil
		})
	// Retries exhausted on a transient failure: the tenant stays Ready.
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{},
		temporal.NewApplicationError("HTTP503: busy", string(domain.Retry), domain.ErrorInfo{Code: "HTTP503",
			Remediation: "Nothing to do: cspsync retries with backoff."})).Times(6)
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		State: workflows.TenantState{Relationship: "DAP"}})
	in := continuedTenant(t, env)
	require.NotNil(t, in.State.LastError)
	failedAt := in.State.LastError.At

	// The next run is Ready and says why its last sync did not happen; a
	// successful sync clears it.
	env2 := s.NewTestWorkflowEnvironment()
	env2.RegisterActivity(&activities.Activities{})
	reasons = nil
	env2.OnActivity(a.RecordTenantState, mock.Anything, "t1", mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ string, state domain.TenantState, reason string) error {
			reasons = append(reasons, string(state)+"|"+reason)
			return nil
		})
	env2.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{}, nil).Once()
	env2.RegisterDelayedCallback(func() {
		st := queryTenant(t, env2)
		assert.Equal(t, domain.TenantReady, st.Status)
		assert.Equal(t, "last sync failed at "+failedAt.UTC().Format("2006-01-02 15:04 UTC")+
			": HTTP503: Nothing to do: cspsync retries with backoff.", st.Reason)
	}, time.Minute)
	env2.ExecuteWorkflow(workflows.TenantWorkflow, in)
	in2 := continuedTenant(t, env2)
	assert.Nil(t, in2.State.LastError)
	require.NotEmpty(t, reasons)
	assert.Contains(t, reasons[0], "Ready|last sync failed at ")
	assert.Equal(t, "Syncing|", reasons[len(reasons)-1])
	env2.AssertExpectations(t)
}

// A sync that times out carries no ErrorInfo: the tenant still records a
// coded error with a fix (it once recorded one with an empty code).
func TestTimedOutSyncRecordsAnInternalErrorWithItsFix(t *testing.T) {
	env, _ := tenantEnvWithoutLicences(t)
	var a *activities.Activities
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{},
		temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil))
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		State: workflows.TenantState{Relationship: "DAP", Licences: importedNow(env)}})
	in := continuedTenant(t, env)
	require.NotNil(t, in.State.LastError)
	e := in.State.LastError
	assert.Equal(t, domain.CodeInternal, e.Code)
	assert.Contains(t, e.Cause, "timeout")
	assert.Equal(t, "See the worker log; `cspsync tenants sync <tenant>` tries again.", e.Remediation)
	assert.Equal(t, domain.Retry, e.Reaction)
	assert.WithinDuration(t, env.Now(), e.At, 0)
	assert.Nil(t, in.State.Blocked, "a timeout blocks nothing")
}

// A tenant that left Partner Center records the Left state and its run ends:
// no timer is left waiting, and discovery starts a new run if it returns.
func TestTenantThatLeftPartnerCenterEndsItsWorkflow(t *testing.T) {
	env, states := tenantEnv(t)
	leftAt := time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	env.RegisterDelayedCallback(func() {
		assert.Equal(t, domain.TenantReady, queryTenant(t, env).Status)
		env.SignalWorkflow(workflows.SignalLeft.Name, workflows.LeftNotice{At: leftAt})
	}, 10*time.Minute)
	start := env.Now()
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		Settings: activities.TenantSettings{SyncInterval: time.Hour},
		State:    workflows.TenantState{Relationship: "DAP", LastSyncAt: env.Now(), Licences: importedNow(env)}})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "the run ends, it does not continue as new")
	assert.Less(t, env.Now().Sub(start), time.Hour, "it ended at the signal, not at its next sync")
	assert.Equal(t, []domain.TenantState{domain.TenantReady, domain.TenantLeft}, *states)
	st := queryTenant(t, env)
	assert.Equal(t, domain.TenantLeft, st.Status)
	assert.Equal(t, domain.LeftReason(leftAt), st.Reason)
	env.AssertExpectations(t)
}

// A GDAP tenant whose relationship ended is paused, its licence imports
// refused, until a discovery finds an active relationship again; then it
// syncs at once.
func TestEndedGDAPRelationshipPausesTenantUntilAnActiveOne(t *testing.T) {
	env, states := tenantEnv(t)
	var a *activities.Activities
	env.OnActivity(a.SyncTenant, mock.Anything, "p", "t1").Return(activities.TenantSyncResult{}, nil).Once()
	env.OnActivity(a.SyncUsers, mock.Anything, "p", "t1", false).Return(activities.UserRoundResult{}, nil).Once()
	end := time.Date(2025, 2, 14, 11, 0, 0, 0, time.UTC)
	expired := domain.GDAPState{Status: "expired", EndAt: &end, Name: "cspsync-contoso"}
	var refused error
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalMicrosoftRelationship.Name, workflows.MicrosoftRelationship{Relationship: domain.GDAP, GDAP: expired})
	}, 10*time.Minute)
	env.RegisterDelayedCallback(func() {
		st := queryTenant(t, env)
		assert.Equal(t, domain.TenantPaused, st.Status)
		assert.Equal(t, expired.PauseReason(), st.Reason)
		assert.Contains(t, st.Reason, "«cspsync-contoso» is expired (2025-02-14)")
		env.UpdateWorkflow(workflows.UpdateImportLicences.Name, "import", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { refused = err }, OnComplete: func(any, error) {}}, struct{}{})
	}, 20*time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalMicrosoftRelationship.Name, workflows.MicrosoftRelationship{Relationship: domain.GDAP,
			GDAP: domain.GDAPState{Status: "active", Name: "cspsync-contoso-2"}})
	}, 30*time.Minute)
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		Settings: activities.TenantSettings{SyncInterval: time.Hour},
		State: workflows.TenantState{Relationship: domain.GDAP, Consent: domain.ConsentGranted, LastSyncAt: env.Now(),
			Licences: importedNow(env)}})
	require.Error(t, refused)
	assert.Contains(t, refused.Error(), "is paused: the GDAP relationship")
	in := continuedTenant(t, env)
	assert.Equal(t, 1, in.State.Syncs, "synced as soon as an active relationship came")
	assert.Equal(t, "active", in.State.GDAP.Status)
	assert.Equal(t, []domain.TenantState{domain.TenantReady, domain.TenantPaused, domain.TenantReady, domain.TenantSyncing}, *states)
}

// A relationship Microsoft says is GDAP, where the tenant had DAP, needs the
// tenant's admin consent.
func TestDetectedRelationshipAppliesToRunningTenant(t *testing.T) {
	env, _ := tenantEnv(t)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalMicrosoftRelationship.Name, workflows.MicrosoftRelationship{Relationship: domain.GDAP,
			GDAP: domain.GDAPState{Status: "active"}})
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		st := queryTenant(t, env)
		assert.Equal(t, domain.TenantAwaitingConsent, st.Status)
		assert.Equal(t, domain.ConsentPending, st.Consent)
	}, 2*time.Minute)
	env.ExecuteWorkflow(workflows.TenantWorkflow, workflows.TenantInput{PartnerID: "p", TenantID: "t1",
		Settings: activities.TenantSettings{SyncInterval: time.Hour},
		State:    workflows.TenantState{Relationship: domain.DAP, LastSyncAt: env.Now(), Licences: importedNow(env)}})
	// Its hourly licence import ends the run.
	in := continuedTenant(t, env)
	assert.Equal(t, domain.GDAP, in.State.Relationship)
	assert.Equal(t, domain.ConsentPending, in.State.Consent)
	assert.Zero(t, in.State.Syncs, "no Graph sync without consent")
}
