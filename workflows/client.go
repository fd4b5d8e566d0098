package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/activities"
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
	err := s.SignalWithStart(ctx, c, partnerStartOptions(taskQueue, partnerID), PartnerWorkflow, PartnerInput{PartnerID: partnerID}, v)
	if err != nil {
		return fmt.Errorf("signalling %s to %s: %w", s.Name, PartnerWorkflowID(partnerID), err)
	}
	return nil
}

// TenantClient starts and signals tenant workflows; the activities use it
// through activities.TenantControl.
type TenantClient struct {
	Client    client.Client
	TaskQueue string
}

var _ activities.TenantControl = TenantClient{}

func (tc TenantClient) startOptions(partnerID string, t activities.TenantInfo) client.StartWorkflowOptions {
	name := t.CustomerName
	if name == "" {
		name = t.TenantID
	}
	return client.StartWorkflowOptions{
		ID:                       TenantWorkflowID(partnerID, t.TenantID),
		TaskQueue:                tc.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            "Tenant " + name,
		StaticDetails:            "Consent, sync and recovery of tenant " + t.TenantID + " for partner " + partnerID,
		TypedSearchAttributes: temporal.NewSearchAttributes(SearchPartnerID.ValueSet(partnerID), SearchTenantID.ValueSet(t.TenantID),
			SearchCustomerName.ValueSet(t.CustomerName), SearchRelationship.ValueSet(string(t.Relationship))),
	}
}

// EnsureTenant starts the tenant's workflow unless it runs already. Like
// SignalWithStart, it is client-started, so it outlives the partner
// workflow's continue-as-new; unlike it, a running tenant gets no event, so
// rediscovering 2,000 known tenants costs 2,000 look-ups, not 2,000
// workflow tasks (BenchmarkRediscovery: 78 s before, on the dev server).
func (tc TenantClient) EnsureTenant(ctx context.Context, partnerID string, t activities.TenantInfo, settings activities.TenantSettings) error {
	in := TenantInput{PartnerID: partnerID, TenantID: t.TenantID, Settings: settings,
		State: TenantState{CustomerName: t.CustomerName, Relationship: t.Relationship, Consent: t.Consent, GDAP: t.GDAP}}
	_, err := tc.Client.ExecuteWorkflow(ctx, tc.startOptions(partnerID, t), TenantWorkflow, in)
	return err
}

// PauseTenant pauses a tenant's workflow.
func (tc TenantClient) PauseTenant(ctx context.Context, partnerID, tenantID, reason string) error {
	return IgnoreNotFound(SignalPause.Send(ctx, tc.Client, TenantWorkflowID(partnerID, tenantID), PauseRequest{Reason: reason}))
}

// ResumeTenant resumes a tenant's workflow.
func (tc TenantClient) ResumeTenant(ctx context.Context, partnerID, tenantID string) error {
	return IgnoreNotFound(SignalResume.Send(ctx, tc.Client, TenantWorkflowID(partnerID, tenantID), struct{}{}))
}

// TellRelationship signals a running tenant workflow its relationship as a
// discovery found it; a tenant without a running workflow gets it when
// discovery starts one.
func (tc TenantClient) TellRelationship(ctx context.Context, partnerID string, t activities.TenantInfo) error {
	return IgnoreNotFound(SignalMicrosoftRelationship.Send(ctx, tc.Client, TenantWorkflowID(partnerID, t.TenantID),
		MicrosoftRelationship{Relationship: t.Relationship, GDAP: t.GDAP}))
}

// RetireTenant ends the workflow of a tenant that left Partner Center; it
// reports false when no workflow of the tenant was running.
func (tc TenantClient) RetireTenant(ctx context.Context, partnerID, tenantID string, leftAt time.Time) (bool, error) {
	err := SignalLeft.Send(ctx, tc.Client, TenantWorkflowID(partnerID, tenantID), LeftNotice{At: leftAt})
	if err != nil && IgnoreNotFound(err) == nil {
		return false, nil
	}
	return err == nil, err
}

// IgnoreNotFound drops the error of signalling a tenant whose workflow is not
// running yet: discovery starts it with the state the store holds.
func IgnoreNotFound(err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	return err
}
