// Package workflows orders cspsync's lifecycle on Temporal: one long-running
// entity workflow per partner (and per customer tenant). Workflows carry ids,
// states and counts; activities do the I/O.
package workflows

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/serviceerror"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// Signal declares a signal's name and payload type once, for the senders and
// the workflow alike, so they cannot drift.
type Signal[T any] struct{ Name string }

// Send signals a running workflow.
func (s Signal[T]) Send(ctx context.Context, c client.Client, workflowID string, v T) error {
	return c.SignalWorkflow(ctx, workflowID, "", s.Name, v)
}

// SendExternal signals another workflow from inside a workflow.
func (s Signal[T]) SendExternal(ctx workflow.Context, workflowID string, v T) workflow.Future {
	return workflow.SignalExternalWorkflow(ctx, workflowID, "", s.Name, v)
}

// SignalWithStart signals a workflow, starting it first if it is not running.
func (s Signal[T]) SignalWithStart(ctx context.Context, c client.Client, opts client.StartWorkflowOptions, wf, arg any, v T) error {
	_, err := c.SignalWithStartWorkflow(ctx, opts.ID, s.Name, v, opts, wf, arg)
	return err
}

// Select adds the signal to a selector: fn receives each value.
func (s Signal[T]) Select(ctx workflow.Context, sel workflow.Selector, fn func(T)) {
	sel.AddReceive(s.Channel(ctx), func(c workflow.ReceiveChannel, _ bool) {
		var v T
		c.Receive(ctx, &v)
		fn(v)
	})
}

// Channel is the signal's channel inside the workflow.
func (s Signal[T]) Channel(ctx workflow.Context) workflow.ReceiveChannel {
	return workflow.GetSignalChannel(ctx, s.Name)
}

// Query declares a query's name and result type once.
type Query[T any] struct{ Name string }

// Handle answers the query inside the workflow.
func (q Query[T]) Handle(ctx workflow.Context, fn func() (T, error)) error {
	return workflow.SetQueryHandler(ctx, q.Name, fn)
}

// Get asks a running workflow.
func (q Query[T]) Get(ctx context.Context, c client.Client, workflowID string) (T, error) {
	var v T
	res, err := c.QueryWorkflow(ctx, workflowID, "", q.Name)
	if err != nil {
		return v, err
	}
	return v, res.Get(&v)
}

// Update declares an update's name, argument and result types once.
type Update[In, Out any] struct{ Name string }

// Handle serves the update inside the workflow; validate rejects it before
// it enters history.
func (u Update[In, Out]) Handle(ctx workflow.Context, fn func(workflow.Context, In) (Out, error), validate func(workflow.Context, In) error) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, u.Name, fn, workflow.UpdateHandlerOptions{Validator: validate})
}

// Execute sends the update and waits for its result. An entity workflow
// continues as new after each cycle, and an update that meets a run as it
// closes finds no running workflow: it is sent again, a few times, to the
// next run.
func (u Update[In, Out]) Execute(ctx context.Context, c client.Client, workflowID string, in In) (Out, error) {
	var out Out
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflowID, UpdateName: u.Name,
			Args: []any{in}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(ctx, &out)
		}
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) || wait > 2*time.Second {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(wait):
		}
	}
}
