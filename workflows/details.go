package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// currentDetails is what the Temporal UI shows as a workflow's current
// details: its state in words, and what it waits for and since when. The
// SDK keeps the text in memory and answers the UI's metadata query with it;
// setting it records nothing in the history, so it may change freely. It is
// composed only when something changed, once per turn of the main loop,
// never in a wait condition.
type currentDetails struct {
	state   string
	waitFor string
	since   time.Time
}

// setState replaces the state part.
func (c *currentDetails) setState(ctx workflow.Context, state string) {
	c.state = state
	c.publish(ctx)
}

// waiting says the workflow now waits for what; the time it started to is
// kept while it waits for the same thing.
func (c *currentDetails) waiting(ctx workflow.Context, what string) {
	if what == c.waitFor {
		return
	}
	c.waitFor, c.since = what, workflow.Now(ctx)
	c.publish(ctx)
}

// working says the workflow waits for nothing: it is at work.
func (c *currentDetails) working(ctx workflow.Context) {
	if c.waitFor == "" {
		return
	}
	c.waitFor = ""
	c.publish(ctx)
}

func (c *currentDetails) publish(ctx workflow.Context) {
	d := c.state
	if c.waitFor != "" {
		d += "\n\nWaiting since " + c.since.UTC().Format(detailsTime) + " for " + c.waitFor + "."
	}
	workflow.SetCurrentDetails(ctx, d)
}

// detailsTime is how current details and timer summaries write a time.
const detailsTime = "2006-01-02 15:04 UTC"
