package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/workflows"
)

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	return env
}

// continuedInput decodes the input a workflow continued as new with.
func continuedInput[T any](t *testing.T, env *testsuite.TestWorkflowEnvironment) T {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "want continue-as-new, got %v", env.GetWorkflowError())
	var in T
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
	return in
}

// query runs a workflow query and decodes its answer.
func query[T any](t *testing.T, env *testsuite.TestWorkflowEnvironment, name string) T {
	t.Helper()
	v, err := env.QueryWorkflow(name)
	require.NoError(t, err)
	var st T
	require.NoError(t, v.Get(&st))
	return st
}

func continuedState(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.PartnerState {
	return continuedInput[workflows.PartnerInput](t, env).State
}

func TestPartnerWaitsForAuthorisationThenDiscoversAndContinuesAsNew(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	env.OnActivity(a.DiscoverTenants, mock.Anything, "acme").
		Return(activities.DiscoveryResult{Pages: 2, Tenants: 7, Inserted: 7}, nil).Once()
	env.OnActivity(a.EnsureTenants, mock.Anything, "acme", mock.Anything).Return(7, nil).Once()

	env.RegisterDelayedCallback(func() {
		// Nothing ran before authorisation.
		assert.Equal(t, domain.AuthPending, query[workflows.PartnerState](t, env, workflows.QueryPartnerState.Name).Auth)
		env.SignalWorkflow(workflows.SignalAuthorised.Name, struct{}{})
	}, time.Hour)
	env.ExecuteWorkflow(workflows.PartnerWorkflow, workflows.PartnerInput{PartnerID: "acme"})

	st := continuedState(t, env)
	assert.Equal(t, domain.AuthAuthorised, st.Auth)
	assert.Equal(t, 1, st.Discoveries)
	assert.Equal(t, 7, st.LastDiscovery.Tenants)
	assert.False(t, st.DiscoveryRequested)
	env.AssertExpectations(t)
}

func TestPartnerReauthoriseFailureStopsWithoutRetrying(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	calls := 0
	env.OnActivity(a.DiscoverTenants, mock.Anything, "acme").Return(func(context.Context, string) (activities.DiscoveryResult, error) {
		calls++
		return activities.DiscoveryResult{}, temporal.NewNonRetryableApplicationError("AADSTS50173: revoked", string(domain.Reauthorise), nil,
			domain.ErrorInfo{Code: "AADSTS50173", Remediation: "Authorise again"})
	})
	env.ExecuteWorkflow(workflows.PartnerWorkflow, workflows.PartnerInput{PartnerID: "acme",
		State: workflows.PartnerState{Auth: domain.AuthAuthorised, DiscoveryRequested: true}})

	st := continuedState(t, env)
	assert.Equal(t, 1, calls)
	assert.Equal(t, domain.AuthNeedsReauthorisation, st.Auth)
	require.NotNil(t, st.LastError)
	assert.Equal(t, "AADSTS50173", st.LastError.Code)
	assert.Equal(t, 0, st.Discoveries)
}

func TestPartnerTransientFailureIsRetriedThenSucceeds(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	var calls []time.Time // on the test environment's clock
	env.OnActivity(a.DiscoverTenants, mock.Anything, "acme").Return(func(context.Context, string) (activities.DiscoveryResult, error) {
		calls = append(calls, env.Now())
		if len(calls) < 3 {
			return activities.DiscoveryResult{}, temporal.NewApplicationErrorWithOptions("throttled", string(domain.Retry),
				temporal.ApplicationErrorOptions{NextRetryDelay: 57 * time.Second})
		}
		return activities.DiscoveryResult{Tenants: 1}, nil
	})
	env.OnActivity(a.EnsureTenants, mock.Anything, "acme", mock.Anything).Return(1, nil).Once()
	env.ExecuteWorkflow(workflows.PartnerWorkflow, workflows.PartnerInput{PartnerID: "acme",
		State: workflows.PartnerState{Auth: domain.AuthAuthorised, DiscoveryRequested: true}})
	st := continuedState(t, env)
	require.Len(t, calls, 3)
	assert.Equal(t, 1, st.Discoveries)
	// Each retry waited as long as Retry-After asked (the retry policy alone would wait 1 s, then 2 s).
	for i := 1; i < len(calls); i++ {
		assert.Equal(t, 57*time.Second, calls[i].Sub(calls[i-1]).Round(time.Second), "wait before attempt %d", i+1)
	}
}

func TestPartnerAuthorisationFailureIsShownAndDiscoverRequestIsKept(t *testing.T) {
	env := newEnv(t)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalDiscover.Name, struct{}{})
		env.SignalWorkflow(workflows.SignalAuthorisationFailed.Name, domain.ErrorInfo{Code: "AADSTS7000215", Remediation: "copy the Value"})
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		st := query[workflows.PartnerState](t, env, workflows.QueryPartnerState.Name)
		assert.Equal(t, domain.AuthNeedsReauthorisation, st.Auth)
		assert.Equal(t, "AADSTS7000215", st.LastError.Code)
		assert.True(t, st.DiscoveryRequested, "a discover request waits for authorisation")
		env.CancelWorkflow()
	}, 2*time.Minute)
	env.ExecuteWorkflow(workflows.PartnerWorkflow, workflows.PartnerInput{PartnerID: "acme"})
	require.True(t, env.IsWorkflowCompleted())
}

func TestPartnerPausesTenantsWhileUnauthorisedAndResumesThem(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	var calls []string
	env.OnActivity(a.PauseTenants, mock.Anything, "acme", mock.Anything).Return(func(_ context.Context, _, reason string) (int, error) {
		calls = append(calls, "pause: "+reason)
		return 3, nil
	})
	env.OnActivity(a.ResumeTenants, mock.Anything, "acme").Return(func(context.Context, string) (int, error) {
		calls = append(calls, "resume")
		return 3, nil
	})
	env.OnActivity(a.DiscoverTenants, mock.Anything, "acme").Return(func(context.Context, string) (activities.DiscoveryResult, error) {
		calls = append(calls, "discover")
		return activities.DiscoveryResult{Tenants: 3}, nil
	})
	env.OnActivity(a.EnsureTenants, mock.Anything, "acme", mock.Anything).Return(func(context.Context, string, activities.TenantSettings) (int, error) {
		calls = append(calls, "ensure")
		return 3, nil
	})
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalNeedsReauthorisation.Name, domain.ErrorInfo{Code: "AADSTS7000222", Remediation: "new secret"})
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalNeedsReauthorisation.Name, domain.ErrorInfo{Code: "AADSTS7000222"}) // a second tenant: no second pause
	}, 2*time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalAuthorised.Name, struct{}{}) }, time.Hour)
	env.ExecuteWorkflow(workflows.PartnerWorkflow, workflows.PartnerInput{PartnerID: "acme",
		State: workflows.PartnerState{Auth: domain.AuthAuthorised, Discoveries: 1}})

	st := continuedState(t, env)
	require.Len(t, calls, 4, "%v", calls)
	assert.Contains(t, calls[0], "pause: the partner is "+string(domain.AuthNeedsReauthorisation)+" (AADSTS7000222: new secret)")
	assert.Equal(t, []string{"resume", "discover", "ensure"}, calls[1:])
	assert.False(t, st.TenantsPaused)
	assert.Equal(t, domain.AuthAuthorised, st.Auth)
}

// A tenant's report of unusable credentials and then the sign-in that fixes
// them wait together while the workflow is busy (a discovery runs, or the
// worker was down): the sign-in wins. Pending signals are taken in the
// selector's order, not their arrival's, and the authorisation was taken
// first, then undone by the older report.
func TestSignInAfterAFailureWaitingTogetherLeavesThePartnerAuthorised(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	env.OnActivity(a.PauseTenants, mock.Anything, "acme", mock.Anything).Return(3, nil).Maybe()
	env.OnActivity(a.ResumeTenants, mock.Anything, "acme").Return(3, nil).Maybe()
	env.OnActivity(a.DiscoverTenants, mock.Anything, "acme").After(10*time.Minute).Return(activities.DiscoveryResult{Tenants: 3}, nil)
	env.OnActivity(a.EnsureTenants, mock.Anything, "acme", mock.Anything).Return(3, nil)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalNeedsReauthorisation.Name, domain.ErrorInfo{Code: "SecretsForgotten"})
	}, time.Minute)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalAuthorised.Name, struct{}{}) }, 2*time.Minute)
	env.ExecuteWorkflow(workflows.PartnerWorkflow, workflows.PartnerInput{PartnerID: "acme",
		State: workflows.PartnerState{Auth: domain.AuthAuthorised, Discoveries: 1, DiscoveryRequested: true}})

	st := continuedState(t, env)
	assert.Equal(t, domain.AuthAuthorised, st.Auth)
	assert.False(t, st.TenantsPaused)
}
