package workflows

import (
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cspsync/cspsync/internal/domain"
)

// runs is a piece of work an Update can ask for and wait on, within one
// workflow run: the partner's discoveries, a tenant's licence imports, its
// users rounds. The main loop starts a run when one is wanted (or due) and
// ends it; an Update asks for a run that starts after it and waits for that
// run's end, so it never reports a run that was already under way.
type runs struct {
	ended   int               // runs ended in this workflow run
	failure *domain.ErrorInfo // how the last of them failed; nil if it succeeded
	running bool
	wanted  bool // an Update asked for a run that has not started yet
}

// start marks a run as started: it serves every Update that asked before.
func (r *runs) start() { r.running, r.wanted = true, false }

// end records how the run ended: failure is nil when it succeeded.
func (r *runs) end(failure *domain.ErrorInfo) {
	r.running, r.failure = false, failure
	r.ended++
}

// askAndWait asks for a run that starts after the request, wakes the main
// loop and waits for that run to end. cannot says why a run can no longer
// start (nil while it can); its refusal ends the wait. A failed run is an
// error of type failed that carries its ErrorInfo.
func (r *runs) askAndWait(ctx workflow.Context, wake workflow.Channel, failed string, cannot func() error) error {
	target := r.ended + 1
	if r.running {
		target++ // the running one started before this request
	}
	r.wanted = true
	wake.SendAsync(struct{}{})
	if err := workflow.Await(ctx, func() bool { return r.ended >= target || cannot() != nil }); err != nil {
		return err
	}
	switch {
	case r.ended < target:
		return cannot()
	case r.failure != nil:
		return temporal.NewApplicationError(r.failure.String(), failed, *r.failure)
	}
	return nil
}
