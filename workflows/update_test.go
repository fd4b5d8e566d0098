package workflows_test

import (
	"context"
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

// updateResult collects what a discovery Update answered.
type updateResult struct {
	rejected error
	result   activities.DiscoveryResult
	err      error
	done     bool
}

func sendDiscover(env *testsuite.TestWorkflowEnvironment, id string, r *updateResult) {
	env.UpdateWorkflow(workflows.UpdateDiscover.Name, id, &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { r.rejected = err },
		OnComplete: func(v any, err error) {
			r.done, r.err = true, err
			if res, ok := v.(activities.DiscoveryResult); ok {
				r.result = res
			}
		},
	}, struct{}{})
}

func TestDiscoverUpdateIsRefusedUntilAuthorised(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	env.OnActivity(a.DiscoverTenants, mock.Anything, "acme").Return(activities.DiscoveryResult{Tenants: 3}, nil)
	env.OnActivity(a.EnsureTenants, mock.Anything, "acme", mock.Anything).Return(3, nil)
	var refused, accepted updateResult
	env.RegisterDelayedCallback(func() { sendDiscover(env, "early", &refused) }, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalAuthorised.Name, struct{}{})
		// Sent right after the sign-in's signal: accepted.
		sendDiscover(env, "after-sign-in", &accepted)
	}, time.Hour)
	env.ExecuteWorkflow(workflows.PartnerWorkflow, workflows.PartnerInput{PartnerID: "acme"})

	require.Error(t, refused.rejected, "%+v", refused)
	assert.Contains(t, refused.rejected.Error(), "partner acme is pending")
	assert.Contains(t, refused.rejected.Error(), "cspsync connect")
	assert.False(t, refused.done)
	require.True(t, accepted.done)
	require.NoError(t, accepted.err)
	assert.Equal(t, 3, accepted.result.Tenants)
	assert.Equal(t, domain.AuthAuthorised, continuedState(t, env).Auth)
}

// An Update that arrives while a discovery runs waits for a discovery that
// starts after it, in the same run, before the workflow continues as new.
func TestDiscoverUpdateDuringADiscoveryWaitsForTheNextOne(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	calls := 0
	env.OnActivity(a.DiscoverTenants, mock.Anything, "acme").After(10 * time.Minute).Return(
		func(context.Context, string) (activities.DiscoveryResult, error) {
			calls++
			return activities.DiscoveryResult{Tenants: calls}, nil
		})
	env.OnActivity(a.EnsureTenants, mock.Anything, "acme", mock.Anything).Return(1, nil)
	var r updateResult
	env.RegisterDelayedCallback(func() { sendDiscover(env, "mid-discovery", &r) }, time.Minute)
	env.ExecuteWorkflow(workflows.PartnerWorkflow, workflows.PartnerInput{PartnerID: "acme",
		State: workflows.PartnerState{Auth: domain.AuthAuthorised, DiscoveryRequested: true}})

	require.True(t, r.done)
	require.NoError(t, r.err)
	assert.Equal(t, 2, calls)
	assert.Equal(t, 2, r.result.Tenants, "the answer is the second discovery's")
	assert.Equal(t, 2, continuedState(t, env).Discoveries)
}

func TestDiscoverUpdateReportsTheFailureItMet(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	env.OnActivity(a.DiscoverTenants, mock.Anything, "acme").Return(activities.DiscoveryResult{},
		temporal.NewNonRetryableApplicationError("forbidden", string(domain.NeedsFix), nil,
			domain.ErrorInfo{Code: "PartnerCenterForbidden", Cause: "not in AdminAgents.", Remediation: "Add the user to AdminAgents."})).Once()
	var r updateResult
	env.RegisterDelayedCallback(func() { sendDiscover(env, "u", &r) }, time.Minute)
	env.ExecuteWorkflow(workflows.PartnerWorkflow, workflows.PartnerInput{PartnerID: "acme",
		State: workflows.PartnerState{Auth: domain.AuthAuthorised}})

	require.True(t, r.done)
	require.Error(t, r.err)
	assert.Contains(t, r.err.Error(), "PartnerCenterForbidden")
	assert.Contains(t, r.err.Error(), "Add the user to AdminAgents.")
}
