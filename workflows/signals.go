// Package workflows orders cspsync's lifecycle on Temporal: one long-running
// entity workflow per partner (and per customer tenant). Workflows carry ids,
// states and counts; activities do the I/O.
package workflows

import (
	"context"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// Signal declares a signal's name and payload type once, for the sender and
// the workflow alike, so they cannot drift.
type Signal[T any] struct{ Name string }

// Send signals a running workflow.
func (s Signal[T]) Send(ctx context.Context, c client.Client, workflowID string, v T) error {
	return c.SignalWorkflow(ctx, workflowID, "", s.Name, v)
}

// Channel is the workflow side.
func (s Signal[T]) Channel(ctx workflow.Context) workflow.ReceiveChannel {
	return workflow.GetSignalChannel(ctx, s.Name)
}

// Receive reads one value from the channel.
func (s Signal[T]) Receive(ctx workflow.Context, c workflow.ReceiveChannel) T {
	var v T
	c.Receive(ctx, &v)
	return v
}
