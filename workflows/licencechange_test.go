package workflows_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/workflows"
)

var (
	changeIn = workflows.LicenceChangeInput{ID: "r1", PartnerID: "acme", TenantID: "t1", CustomerID: 7, Customer: "Contoso",
		UserID: "u1", UserName: "adele@contoso.com", SkuID: "s1", SkuName: "SPB", Action: licensing.Assign, RequestedBy: "ops@acme"}
	changeFacts = licensing.ChangeFacts{Action: licensing.Assign, Customer: "Contoso", Managed: true, User: "adele@contoso.com",
		UserActive: true, UserInGraph: true, Sku: "SPB", SkuHeld: true, Paid: 2, Assigned: 1, UsageLocation: "GB"}
)

// requestChange sends the change's request at the workflow's start, as StartLicenceChange
// does, and returns the rejection, if any.
func requestChange(env *testsuite.TestWorkflowEnvironment, facts licensing.ChangeFacts) *error {
	var rejected error
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateLicenceChange.Name, "req", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { rejected = err }, OnComplete: func(any, error) {},
		}, facts)
	}, 0)
	return &rejected
}

func changeResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.LicenceChangeResult {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.LicenceChangeResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res
}

func TestLicenceChangeAppliesVerifiesAndFinishes(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	consumed := 2
	env.OnActivity(a.BeginLicenceChange, mock.Anything, changeIn).Return(nil).Once()
	env.OnActivity(a.ApplyLicenceChange, mock.Anything, changeIn).Return(true, nil).Once()
	read := activities.UserLicenceRead{Found: true, Holds: true, Consumed: &consumed}
	env.OnActivity(a.ReadUserLicence, mock.Anything, changeIn).Return(read, nil).Once()
	holds := true
	env.OnActivity(a.FinishLicenceChange, mock.Anything, changeIn, activities.LicenceChangeEnd{Applied: true, Read: &read}).
		Return(activities.LicenceChangeResult{State: "done", Applied: true, Holds: &holds}, nil).Once()
	rejected := requestChange(env, changeFacts)
	env.ExecuteWorkflow(workflows.LicenceChangeWorkflow, changeIn)
	require.NoError(t, *rejected)
	assert.Equal(t, "done", changeResult(t, env).State)
	env.AssertExpectations(t)
}

// A refused request enters no history: the workflow does nothing and ends refused.
func TestLicenceChangeRefusedRequestDoesNothing(t *testing.T) {
	env := newEnv(t)
	facts := changeFacts
	facts.UsageLocation = ""
	rejected := requestChange(env, facts)
	env.ExecuteWorkflow(workflows.LicenceChangeWorkflow, changeIn)
	require.Error(t, *rejected)
	assert.Contains(t, (*rejected).Error(), "usage location")
	assert.Equal(t, workflows.StateRefused, changeResult(t, env).State)
}

// Microsoft's refusal is not retried; the user is read back and the change ends failed with
// the refusal, both sides as Microsoft holds them.
func TestLicenceChangeMicrosoftRefusalEndsFailed(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	info := domain.ErrorInfo{Code: "LicenceNoneLeft", Cause: "no licence left", Remediation: "buy seats", Reaction: domain.NeedsFix}
	env.OnActivity(a.BeginLicenceChange, mock.Anything, changeIn).Return(nil)
	env.OnActivity(a.ApplyLicenceChange, mock.Anything, changeIn).
		Return(false, temporal.NewNonRetryableApplicationError("LicenceNoneLeft", string(domain.NeedsFix), nil, info)).Once()
	read := activities.UserLicenceRead{Found: true, Holds: false}
	env.OnActivity(a.ReadUserLicence, mock.Anything, changeIn).Return(read, nil).Once()
	env.OnActivity(a.FinishLicenceChange, mock.Anything, changeIn, mock.MatchedBy(func(e activities.LicenceChangeEnd) bool {
		return e.Failure != nil && e.Failure.Code == "LicenceNoneLeft" && !e.Applied && e.Read != nil && !e.Read.Holds
	})).Return(activities.LicenceChangeResult{State: "failed"}, nil).Once()
	requestChange(env, changeFacts)
	env.ExecuteWorkflow(workflows.LicenceChangeWorkflow, changeIn)
	assert.Equal(t, "failed", changeResult(t, env).State)
	env.AssertExpectations(t)
}

// Throttling is retried, then ends the change with its cause rather than waiting forever.
func TestLicenceChangeThrottlingEndsAfterRetries(t *testing.T) {
	env := newEnv(t)
	var a *activities.Activities
	info := domain.ErrorInfo{Code: "TooManyRequests", Cause: "throttled", Remediation: "wait", Reaction: domain.Retry}
	env.OnActivity(a.BeginLicenceChange, mock.Anything, changeIn).Return(nil)
	env.OnActivity(a.ApplyLicenceChange, mock.Anything, changeIn).
		Return(false, temporal.NewApplicationError("TooManyRequests", string(domain.Retry), info)).Times(5)
	env.OnActivity(a.ReadUserLicence, mock.Anything, changeIn).Return(activities.UserLicenceRead{Found: true}, nil)
	env.OnActivity(a.FinishLicenceChange, mock.Anything, changeIn, mock.MatchedBy(func(e activities.LicenceChangeEnd) bool {
		return e.Failure != nil && e.Failure.Code == "TooManyRequests"
	})).Return(activities.LicenceChangeResult{State: "failed"}, nil).Once()
	requestChange(env, changeFacts)
	env.ExecuteWorkflow(workflows.LicenceChangeWorkflow, changeIn)
	assert.Equal(t, "failed", changeResult(t, env).State)
	env.AssertExpectations(t)
}
