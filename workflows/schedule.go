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
	"go.temporal.io/sdk/workflow"
)

// DiscoveryScheduleID is the id of a partner's recurring-discovery schedule.
func DiscoveryScheduleID(partnerID string) string { return "discovery/" + partnerID }

// DiscoveryTriggerWorkflow is what the schedule starts: it asks the partner's
// workflow to discover, which keeps the partner workflow the one place that
// runs discoveries.
func DiscoveryTriggerWorkflow(ctx workflow.Context, partnerID string) error {
	return SignalDiscover.SendExternal(ctx, PartnerWorkflowID(partnerID), struct{}{}).Get(ctx, nil)
}

// EnsureDiscoverySchedule creates or updates the partner's schedule so that
// customers added in Partner Center arrive without anyone asking; every <= 0
// removes it. Overlapping runs are skipped.
func EnsureDiscoverySchedule(ctx context.Context, c client.Client, taskQueue, partnerID string, every time.Duration) error {
	sc := c.ScheduleClient()
	id := DiscoveryScheduleID(partnerID)
	if every <= 0 {
		var nf *serviceerror.NotFound
		if err := sc.GetHandle(ctx, id).Delete(ctx); err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("removing schedule %s: %w", id, err)
		}
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{ID: "discovery-trigger/" + partnerID, Workflow: DiscoveryTriggerWorkflow,
		Args: []any{partnerID}, TaskQueue: taskQueue}
	_, err := sc.Create(ctx, client.ScheduleOptions{ID: id, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, Note: "Recurring tenant discovery of partner " + partnerID})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec, s.Action = &spec, action
				return &client.ScheduleUpdate{Schedule: &s}, nil
			}})
	}
	if err != nil {
		return fmt.Errorf("scheduling discovery of %s every %s: %w", partnerID, every, err)
	}
	return nil
}
