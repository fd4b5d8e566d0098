package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cspsync/cspsync/activities"
)

// Partner authorisation states, as the workflow tracks them.
const (
	AuthPending              = "AwaitingAuthorisation"
	AuthAuthorised           = "Authorised"
	AuthNeedsReauthorisation = "NeedsReauthorisation"
)

// Signals and query of the partner workflow.
var (
	// SignalAuthorised: the partner admin completed sign-in; tokens are in the store.
	SignalAuthorised = Signal[struct{}]{Name: "authorised"}
	// SignalAuthorisationFailed: the sign-in came back with a Microsoft error.
	SignalAuthorisationFailed = Signal[activities.ErrorInfo]{Name: "authorisation-failed"}
	// SignalDiscover: run tenant discovery now.
	SignalDiscover = Signal[struct{}]{Name: "discover"}
	// SignalNeedsReauthorisation: a tenant found the partner's credentials unusable.
	SignalNeedsReauthorisation = Signal[activities.ErrorInfo]{Name: "needs-reauthorisation"}
	// SignalDisconnected: `cspsync disconnect` removed the partner's tokens.
	SignalDisconnected = Signal[struct{}]{Name: "disconnected"}
)

// QueryPartnerState returns the PartnerState.
const QueryPartnerState = "state"

// PartnerWorkflowID is the readable id of a partner's entity workflow.
func PartnerWorkflowID(partnerID string) string { return "partner/" + partnerID }

// PartnerSettings tune the workflow; set when it starts and carried on.
type PartnerSettings struct {
	// DiscoveryHeartbeat is how long a crashed worker may hold a discovery
	// before another worker resumes it.
	DiscoveryHeartbeat time.Duration
	// Tenant settings given to every tenant workflow the partner starts.
	Tenant activities.TenantSettings
}

// PartnerInput starts (or continues) a partner workflow.
type PartnerInput struct {
	PartnerID string
	Settings  PartnerSettings
	State     PartnerState
}

// PartnerState is everything the partner workflow carries across
// continue-as-new: no secrets and nothing that grows with the tenants.
type PartnerState struct {
	Auth               string
	DiscoveryRequested bool
	Discoveries        int
	LastDiscovery      *activities.DiscoveryResult
	LastDiscoveryAt    time.Time
	LastError          *activities.ErrorInfo
	// TenantsPaused is true while the tenant workflows are paused for lack of
	// a usable authorisation.
	TenantsPaused bool
}

// PartnerWorkflow is one partner's long-running entity: it waits durably for
// authorisation, discovers the partner's customer tenants, then waits for the
// next discovery request. It continues as new after each discovery so its
// history stays small.
func PartnerWorkflow(ctx workflow.Context, in PartnerInput) error {
	w := &partnerWorkflow{in: in, state: in.State}
	if w.state.Auth == "" {
		w.state.Auth = AuthPending
	}
	if w.in.Settings.DiscoveryHeartbeat <= 0 {
		w.in.Settings.DiscoveryHeartbeat = 30 * time.Second
	}
	w.logger = log.With(workflow.GetLogger(ctx), "partner", in.PartnerID)
	if err := workflow.SetQueryHandler(ctx, QueryPartnerState, func() (PartnerState, error) { return w.state, nil }); err != nil {
		return err
	}
	return w.run(ctx)
}

type partnerWorkflow struct {
	in     PartnerInput
	state  PartnerState
	logger log.Logger
}

func (w *partnerWorkflow) run(ctx workflow.Context) error {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(SignalAuthorised.Channel(ctx), func(c workflow.ReceiveChannel, _ bool) {
		SignalAuthorised.Receive(ctx, c)
		w.logger.Info("partner authorised")
		w.state.Auth = AuthAuthorised
		w.state.LastError = nil
		w.state.DiscoveryRequested = true
	})
	sel.AddReceive(SignalAuthorisationFailed.Channel(ctx), func(c workflow.ReceiveChannel, _ bool) {
		info := SignalAuthorisationFailed.Receive(ctx, c)
		w.logger.Warn("authorisation failed", "code", info.Code)
		w.state.Auth = AuthNeedsReauthorisation
		w.state.LastError = &info
	})
	sel.AddReceive(SignalDiscover.Channel(ctx), func(c workflow.ReceiveChannel, _ bool) {
		SignalDiscover.Receive(ctx, c)
		w.state.DiscoveryRequested = true
	})
	sel.AddReceive(SignalNeedsReauthorisation.Channel(ctx), func(c workflow.ReceiveChannel, _ bool) {
		info := SignalNeedsReauthorisation.Receive(ctx, c)
		w.logger.Warn("a tenant reported unusable partner credentials", "code", info.Code)
		w.state.Auth = AuthNeedsReauthorisation
		w.state.LastError = &info
	})
	sel.AddReceive(SignalDisconnected.Channel(ctx), func(c workflow.ReceiveChannel, _ bool) {
		SignalDisconnected.Receive(ctx, c)
		w.state.Auth = AuthPending
	})

	for {
		w.showDetails(ctx)
		if err := w.pauseOrResumeTenants(ctx); err != nil {
			// Tried for minutes already; the next signal tries again.
			w.logger.Error("pausing or resuming tenants failed", "error", err)
			w.state.LastError = &activities.ErrorInfo{Code: "Internal", Cause: err.Error(), At: workflow.Now(ctx),
				Remediation: "Check that the worker reaches Temporal and PostgreSQL; `cspsync sync` tries again."}
		}
		if w.state.Auth == AuthAuthorised && w.state.DiscoveryRequested {
			w.state.DiscoveryRequested = false
			w.discover(ctx)
			return w.continueAsNew(ctx, sel)
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return w.continueAsNew(ctx, sel)
		}
		sel.Select(ctx)
	}
}

func (w *partnerWorkflow) discover(ctx workflow.Context) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    w.in.Settings.DiscoveryHeartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			MaximumAttempts:        12,
			NonRetryableErrorTypes: []string{activities.ErrReauthorise, activities.ErrAwaitConsent, activities.ErrNeedsFix},
		},
	})
	var a *activities.Activities
	var res activities.DiscoveryResult
	err := workflow.ExecuteActivity(actx, a.DiscoverTenants, w.in.PartnerID).Get(ctx, &res)
	if err == nil {
		w.logger.Info("discovery finished", "tenants", res.Tenants, "inserted", res.Inserted)
		w.state.Discoveries++
		w.state.LastDiscovery = &res
		w.state.LastDiscoveryAt = workflow.Now(ctx)
		w.state.LastError = nil
		// Every discovered tenant gets its own long-running workflow.
		err = workflow.ExecuteActivity(w.fanOutOptions(ctx), a.EnsureTenants, w.in.PartnerID, w.in.Settings.Tenant).Get(ctx, nil)
		if err == nil {
			return
		}
	}
	info, kind, ok := activities.ErrorInfoOf(err)
	if !ok {
		info = activities.ErrorInfo{Code: "Internal", Cause: err.Error(), Remediation: "See the worker log; run `cspsync sync` to try again."}
	}
	info.At = workflow.Now(ctx)
	w.state.LastError = &info
	if kind == activities.ErrReauthorise {
		w.state.Auth = AuthNeedsReauthorisation
	}
	w.logger.Warn("discovery failed", "code", info.Code, "type", kind)
}

// pauseOrResumeTenants keeps the tenants in step with the partner: paused
// while it cannot authenticate, resumed (with their state intact) once it can.
func (w *partnerWorkflow) pauseOrResumeTenants(ctx workflow.Context) error {
	var a *activities.Activities
	switch {
	case w.state.Auth != AuthAuthorised && !w.state.TenantsPaused && w.state.Discoveries > 0:
		reason := "the partner is " + w.state.Auth
		if e := w.state.LastError; e != nil {
			reason += " (" + e.Code + ": " + e.Remediation + ")"
		}
		if err := workflow.ExecuteActivity(w.fanOutOptions(ctx), a.PauseTenants, w.in.PartnerID, reason).Get(ctx, nil); err != nil {
			return err
		}
		w.state.TenantsPaused = true
	case w.state.Auth == AuthAuthorised && w.state.TenantsPaused:
		if err := workflow.ExecuteActivity(w.fanOutOptions(ctx), a.ResumeTenants, w.in.PartnerID).Get(ctx, nil); err != nil {
			return err
		}
		w.state.TenantsPaused = false
	}
	return nil
}

// fanOutOptions suit the activities that start or signal every tenant workflow.
func (w *partnerWorkflow) fanOutOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
}

// continueAsNew drains signals that arrived meanwhile into the state, so
// none is lost, and starts a fresh run with it.
func (w *partnerWorkflow) continueAsNew(ctx workflow.Context, sel workflow.Selector) error {
	for sel.HasPending() {
		sel.Select(ctx)
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, PartnerWorkflow, PartnerInput{
		PartnerID: w.in.PartnerID, Settings: w.in.Settings, State: w.state})
}

func (w *partnerWorkflow) showDetails(ctx workflow.Context) {
	d := fmt.Sprintf("**%s** — %d discoveries", w.state.Auth, w.state.Discoveries)
	if r := w.state.LastDiscovery; r != nil {
		d += fmt.Sprintf("; last: %d tenants (%d new)", r.Tenants, r.Inserted)
	}
	if e := w.state.LastError; e != nil {
		d += fmt.Sprintf("\n\nLast error %s: %s", e.Code, e.Remediation)
	}
	workflow.SetCurrentDetails(ctx, d)
}
