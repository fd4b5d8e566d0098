package workflows

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
)

// UpdateLicenceChange asks a just-started LicenceChange workflow to go ahead. Its argument
// holds the facts the change is judged on, read outside the workflow; the validator refuses
// a change licensing.ChangeRefusal refuses, before anything enters history.
var UpdateLicenceChange = Update[licensing.ChangeFacts, LicenceChangeAccepted]{Name: "licence-change"}

// LicenceChangeAccepted names the accepted change.
type LicenceChangeAccepted struct {
	RequestID  string
	WorkflowID string
}

type (
	LicenceChangeInput  = activities.LicenceChangeRequest
	LicenceChangeResult = activities.LicenceChangeResult
)

// StateRefused: a change whose request was refused or never came; nothing was done.
const StateRefused = "refused"

// licenceChangeWait is how long a started change waits for its request: the starter sends
// it with the start, so only a refused request leaves it waiting.
const licenceChangeWait = time.Minute

// LicenceChangeWorkflowID is one change's workflow id.
func LicenceChangeWorkflowID(partnerID, userID, requestID string) string {
	return "licence-change/" + partnerID + "/" + userID + "/" + requestID
}

// LicenceChangeWorkflow assigns or removes one user's licence: it records the change, calls
// Graph's assignLicense unless Microsoft already agrees, reads the user back to verify, and
// makes the PSA agree with what Microsoft holds. Every step is idempotent, so a worker lost
// at any point neither applies the change twice nor loses it.
func LicenceChangeWorkflow(ctx workflow.Context, in LicenceChangeInput) (LicenceChangeResult, error) {
	accepted := false
	err := UpdateLicenceChange.Handle(ctx, func(ctx workflow.Context, _ licensing.ChangeFacts) (LicenceChangeAccepted, error) {
		accepted = true
		return LicenceChangeAccepted{RequestID: in.ID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID}, nil
	}, func(ctx workflow.Context, f licensing.ChangeFacts) error {
		if accepted {
			return fmt.Errorf("licence change %s was already accepted", in.ID)
		}
		if f.Action != in.Action {
			return fmt.Errorf("the facts are for %s, the change is %s", f.Action, in.Action)
		}
		return licensing.ChangeRefusal(f)
	})
	if err != nil {
		return LicenceChangeResult{}, err
	}
	if ok, err := workflow.AwaitWithTimeout(ctx, licenceChangeWait, func() bool { return accepted }); err != nil || !ok {
		return LicenceChangeResult{State: StateRefused}, err
	}

	what := fmt.Sprintf("%s %s for %s (%s)", in.Action, in.SkuName, in.UserName, in.Customer)
	step := func(summary string, timeout time.Duration, attempts int32) workflow.Context {
		return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			Summary:             summary,
			StartToCloseTimeout: timeout,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
				MaximumInterval: 30 * time.Second, MaximumAttempts: attempts, NonRetryableErrorTypes: domain.Permanent()},
		})
	}
	if err := workflow.ExecuteActivity(step("Record the change: "+what, 30*time.Second, 0), acts.BeginLicenceChange, in).Get(ctx, nil); err != nil {
		info := activities.ErrorInfoOf(err, domain.OpLicenceChange)
		info.At = workflow.Now(ctx)
		return LicenceChangeResult{State: StateRefused, Error: &info}, nil
	}
	// Throttling and outages are retried a few times, then end the change with its cause: a
	// licence change is someone's request, waiting for an answer.
	var end activities.LicenceChangeEnd
	if err := workflow.ExecuteActivity(step("Graph assignLicense unless Microsoft already agrees: "+what, 30*time.Second, 5),
		acts.ApplyLicenceChange, in).Get(ctx, &end.Applied); err != nil {
		info := activities.ErrorInfoOf(err, domain.OpLicenceChange)
		info.At = workflow.Now(ctx)
		end.Failure = &info
	}
	var read activities.UserLicenceRead
	if err := workflow.ExecuteActivity(step("Read the user's licences back from Graph to verify: "+what, 30*time.Second, 5),
		acts.ReadUserLicence, in).Get(ctx, &read); err == nil {
		end.Read = &read
	} else if end.Failure == nil {
		info := activities.ErrorInfoOf(err, domain.OpLicenceChange)
		info.At = workflow.Now(ctx)
		end.Failure = &info
	}
	var res LicenceChangeResult
	err = workflow.ExecuteActivity(step("Make the PSA agree with Microsoft and record the outcome: "+what, 30*time.Second, 0),
		acts.FinishLicenceChange, in, end).Get(ctx, &res)
	return res, err
}

// StartLicenceChange starts a change's workflow with its request, in one call: the request's
// validator refuses a change that must not start, and the error says why and the fix.
func StartLicenceChange(ctx context.Context, c client.Client, taskQueue string, in LicenceChangeInput, facts licensing.ChangeFacts) (LicenceChangeAccepted, error) {
	start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       in.WorkflowID,
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:            fmt.Sprintf("Licence change: %s %s for %s", in.Action, in.SkuName, in.UserName),
		StaticDetails:            fmt.Sprintf("Asked by %s for customer %s (tenant %s)", in.RequestedBy, in.Customer, in.TenantID),
	}, LicenceChangeWorkflow, in)
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{WorkflowID: in.WorkflowID, UpdateName: UpdateLicenceChange.Name,
			Args: []any{facts}, WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	var out LicenceChangeAccepted
	if err == nil {
		err = h.Get(ctx, &out)
	}
	return out, err
}
