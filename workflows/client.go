package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

func partnerStartOptions(taskQueue, partnerID string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       PartnerWorkflowID(partnerID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            "CSP partner " + partnerID,
		StaticDetails:            "Authorisation and tenant discovery of partner " + partnerID,
	}
}

// EnsurePartner starts the partner's workflow unless it already runs.
func EnsurePartner(ctx context.Context, c client.Client, taskQueue, partnerID string, settings PartnerSettings) error {
	_, err := c.ExecuteWorkflow(ctx, partnerStartOptions(taskQueue, partnerID), PartnerWorkflow,
		PartnerInput{PartnerID: partnerID, Settings: settings})
	if err != nil {
		return fmt.Errorf("starting workflow %s: %w", PartnerWorkflowID(partnerID), err)
	}
	return nil
}

// SignalPartner delivers a signal, starting the partner's workflow first if
// it is not running (for instance after it was terminated by hand).
func SignalPartner[T any](ctx context.Context, c client.Client, taskQueue, partnerID string, s Signal[T], v T) error {
	_, err := c.SignalWithStartWorkflow(ctx, PartnerWorkflowID(partnerID), s.Name, v,
		partnerStartOptions(taskQueue, partnerID), PartnerWorkflow, PartnerInput{PartnerID: partnerID})
	if err != nil {
		return fmt.Errorf("signalling %s to %s: %w", s.Name, PartnerWorkflowID(partnerID), err)
	}
	return nil
}

// QueryPartner returns the partner workflow's state.
func QueryPartner(ctx context.Context, c client.Client, partnerID string) (PartnerState, error) {
	var st PartnerState
	v, err := c.QueryWorkflow(ctx, PartnerWorkflowID(partnerID), "", QueryPartnerState)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}
