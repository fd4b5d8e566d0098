package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
)

// Messages of the partner workflow.
var (
	// SignalAuthorised: the partner admin completed sign-in; tokens are in the store.
	SignalAuthorised = Signal[struct{}]{Name: "authorised"}
	// SignalAuthorisationFailed: the sign-in came back with a Microsoft error.
	SignalAuthorisationFailed = Signal[domain.ErrorInfo]{Name: "authorisation-failed"}
	// SignalDiscover: run tenant discovery now.
	SignalDiscover = Signal[struct{}]{Name: "discover"}
	// SignalNeedsReauthorisation: a tenant found the partner's credentials unusable.
	SignalNeedsReauthorisation = Signal[domain.ErrorInfo]{Name: "needs-reauthorisation"}
	// SignalDisconnected: `cspsync disconnect` removed the partner's tokens.
	SignalDisconnected = Signal[struct{}]{Name: "disconnected"}
	// QueryPartnerState returns the PartnerState.
	QueryPartnerState = Query[PartnerState]{Name: "state"}
	// UpdateDiscover runs a discovery and returns its counts once it has
	// finished; refused while the partner is not authorised.
	UpdateDiscover = Update[struct{}, activities.DiscoveryResult]{Name: "discover-and-wait"}
)

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
	Auth               domain.AuthState
	DiscoveryRequested bool
	Discoveries        int
	LastDiscovery      *activities.DiscoveryResult
	LastDiscoveryAt    time.Time
	LastError          *domain.ErrorInfo
	// TenantsPaused is true while the tenant workflows are paused for lack of
	// a usable authorisation.
	TenantsPaused bool
}

// PartnerWorkflow is one partner's long-running entity: it waits durably for
// authorisation, discovers the partner's customer tenants, then waits for the
// next discovery request. It continues as new after each discovery so its
// history stays small.
func PartnerWorkflow(ctx workflow.Context, in PartnerInput) error {
	w := &partnerWorkflow{in: in, state: in.State, wake: workflow.NewBufferedChannel(ctx, 1),
		authorisedCh: SignalAuthorised.Channel(ctx)}
	if w.state.Auth == "" {
		w.state.Auth = domain.AuthPending
	}
	if w.in.Settings.DiscoveryHeartbeat <= 0 {
		w.in.Settings.DiscoveryHeartbeat = 30 * time.Second
	}
	w.logger = log.With(workflow.GetLogger(ctx), "partner", in.PartnerID)
	if err := QueryPartnerState.Handle(ctx, func() (PartnerState, error) { return w.state, nil }); err != nil {
		return err
	}
	w.signInLast = workflow.GetVersion(ctx, "sign-in-taken-last", workflow.DefaultVersion, 1) >= 1
	if err := UpdateDiscover.Handle(ctx, w.discoverAndWait, w.validateDiscover); err != nil {
		return err
	}
	return w.run(ctx)
}

type partnerWorkflow struct {
	in     PartnerInput
	state  PartnerState
	logger log.Logger

	// What Updates wait on, within this run (continue-as-new waits for them).
	discoveries runs
	wake        workflow.Channel // wakes the main loop for an Update
	// authorisedCh holds an authorisation the main loop has not taken yet
	// (validators cannot look channels up themselves).
	authorisedCh workflow.ReceiveChannel
	// signInLast: of the signals waiting together, the sign-in is taken
	// last (runs started before this replay the old order).
	signInLast bool
	details    currentDetails
}

// selector takes one signal. Signals that wait together (the workflow was
// busy, or the worker down) are taken in the order they are added here, not
// the order they arrived in, so the sign-in comes last: a failure reported
// before it (a tenant's, a forgotten key's) must not undo it, and one that
// really follows it is met again by the next activity.
func (w *partnerWorkflow) selector(ctx workflow.Context) workflow.Selector {
	sel := workflow.NewSelector(ctx)
	signIn := func() {
		SignalAuthorised.Select(ctx, sel, func(struct{}) {
			w.logger.Info("partner authorised")
			w.state.Auth = domain.AuthAuthorised
			w.state.LastError = nil
			w.state.DiscoveryRequested = true
		})
	}
	if !w.signInLast {
		signIn()
	}
	SignalAuthorisationFailed.Select(ctx, sel, func(info domain.ErrorInfo) {
		w.logger.Warn("authorisation failed", "code", info.Code)
		w.state.Auth = domain.AuthNeedsReauthorisation
		w.state.LastError = &info
	})
	SignalDiscover.Select(ctx, sel, func(struct{}) { w.state.DiscoveryRequested = true })
	SignalNeedsReauthorisation.Select(ctx, sel, func(info domain.ErrorInfo) {
		w.logger.Warn("a tenant reported unusable partner credentials", "code", info.Code)
		w.state.Auth = domain.AuthNeedsReauthorisation
		w.state.LastError = &info
	})
	SignalDisconnected.Select(ctx, sel, func(struct{}) { w.state.Auth = domain.AuthPending })
	if w.signInLast {
		signIn()
	}
	sel.AddReceive(w.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	return sel
}

func (w *partnerWorkflow) run(ctx workflow.Context) error {
	sel := w.selector(ctx)
	for {
		w.showDetails(ctx)
		if err := w.pauseOrResumeTenants(ctx); err != nil {
			// Tried for minutes already; the next signal tries again.
			w.logger.Error("pausing or resuming tenants failed", "error", err)
			// The partner's next signal (`cspsync sync` sends one) tries again.
			info := domain.Internal(domain.OpDiscovery, err)
			info.At = workflow.Now(ctx)
			w.state.LastError = &info
		}
		if w.state.Auth == domain.AuthAuthorised && (w.state.DiscoveryRequested || w.discoveries.wanted) {
			w.details.working(ctx)
			w.state.DiscoveryRequested = false
			w.discover(ctx)
			if w.discoveries.wanted {
				continue // an Update asked for another discovery meanwhile: run it in this run
			}
			if done, err := w.continueAsNew(ctx, sel); done {
				return err
			}
			continue
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if done, err := w.continueAsNew(ctx, sel); done {
				return err
			}
			continue
		}
		// Wait for a signal without blocking on its channel: a selector
		// blocked on a channel takes a signal off it the moment it arrives,
		// before the loop runs, and an Update validated in the same task
		// (`cspsync dev` sends discover-and-wait right after the sign-in's
		// signal) would find neither the state nor the channel authorised.
		// Awaited, the signal stays in its channel until the loop takes it.
		w.details.waiting(ctx, w.waitsFor())
		if err := workflow.Await(ctx, sel.HasPending); err != nil {
			return err
		}
		sel.Select(ctx)
	}
}

// authorised is true when the partner is authorised, or its authorisation
// has arrived and the main loop is about to take it.
func (w *partnerWorkflow) authorised() bool {
	return w.state.Auth == domain.AuthAuthorised || w.authorisedCh.Len() > 0
}

// validateDiscover refuses a discovery Update the partner cannot run now.
func (w *partnerWorkflow) validateDiscover(workflow.Context, struct{}) error {
	if w.authorised() {
		return nil
	}
	return fmt.Errorf("partner %s is %s: %s", w.in.PartnerID, w.state.Auth, w.nextStep())
}

// discoverAndWait asks for a discovery that starts after the request and
// returns its counts, or the failure it met.
func (w *partnerWorkflow) discoverAndWait(ctx workflow.Context, _ struct{}) (activities.DiscoveryResult, error) {
	err := w.discoveries.askAndWait(ctx, w.wake, "DiscoveryFailed", func() error {
		if w.authorised() {
			return nil
		}
		return temporal.NewApplicationError(
			fmt.Sprintf("partner %s became %s before the discovery ran: %s", w.in.PartnerID, w.state.Auth, w.nextStep()),
			"NotAuthorised")
	})
	if err != nil {
		return activities.DiscoveryResult{}, err
	}
	return *w.state.LastDiscovery, nil
}

// nextStep says what the partner's administrator must do.
func (w *partnerWorkflow) nextStep() string { return w.state.Auth.NextStep(w.state.LastError) }

func (w *partnerWorkflow) discover(ctx workflow.Context) {
	w.discoveries.start()
	var failure *domain.ErrorInfo
	defer func() { w.discoveries.end(failure) }()
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    w.in.Settings.DiscoveryHeartbeat,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			MaximumAttempts:        12,
			NonRetryableErrorTypes: domain.Permanent(),
		},
	})
	var res activities.DiscoveryResult
	err := workflow.ExecuteActivity(actx, acts.DiscoverTenants, w.in.PartnerID).Get(ctx, &res)
	if err == nil {
		w.logger.Info("discovery finished", "tenants", res.Tenants, "inserted", res.Inserted)
		w.state.Discoveries++
		w.state.LastDiscovery = &res
		w.state.LastDiscoveryAt = workflow.Now(ctx)
		w.state.LastError = nil
		// Every discovered tenant gets its own long-running workflow.
		err = workflow.ExecuteActivity(w.fanOutOptions(ctx), acts.EnsureTenants, w.in.PartnerID, w.in.Settings.Tenant).Get(ctx, nil)
		if err == nil {
			return
		}
	}
	info := activities.ErrorInfoOf(err, domain.OpDiscovery)
	info.At = workflow.Now(ctx)
	w.state.LastError, failure = &info, &info
	if info.Reaction == domain.Reauthorise {
		w.state.Auth = domain.AuthNeedsReauthorisation
	}
	w.logger.Warn("discovery failed", "code", info.Code, "type", info.Reaction)
}

// pauseOrResumeTenants keeps the tenants in step with the partner: paused
// while it cannot authenticate, resumed (with their state intact) once it can.
func (w *partnerWorkflow) pauseOrResumeTenants(ctx workflow.Context) error {
	switch {
	case w.state.Auth != domain.AuthAuthorised && !w.state.TenantsPaused && w.state.Discoveries > 0:
		reason := "the partner is " + string(w.state.Auth)
		if e := w.state.LastError; e != nil {
			reason += " (" + e.Code + ": " + e.Remediation + ")"
		}
		if err := workflow.ExecuteActivity(w.fanOutOptions(ctx), acts.PauseTenants, w.in.PartnerID, reason).Get(ctx, nil); err != nil {
			return err
		}
		w.state.TenantsPaused = true
	case w.state.Auth == domain.AuthAuthorised && w.state.TenantsPaused:
		if err := workflow.ExecuteActivity(w.fanOutOptions(ctx), acts.ResumeTenants, w.in.PartnerID).Get(ctx, nil); err != nil {
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
// none is lost, waits for Updates to finish and starts a fresh run. It
// returns false, without continuing, when an Update asks for a discovery
// meanwhile: that discovery runs in this run first.
func (w *partnerWorkflow) continueAsNew(ctx workflow.Context, sel workflow.Selector) (bool, error) {
	for sel.HasPending() {
		sel.Select(ctx)
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || w.discoveries.wanted }); err != nil {
		return true, err
	}
	if w.discoveries.wanted {
		return false, nil
	}
	return true, workflow.NewContinueAsNewError(ctx, PartnerWorkflow, PartnerInput{
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
	w.details.setState(ctx, d)
}

// waitsFor says in words what the partner waits for between discoveries.
func (w *partnerWorkflow) waitsFor() string {
	switch w.state.Auth {
	case domain.AuthAuthorised:
		return "the next discovery (its schedule, or `cspsync sync`)"
	case domain.AuthNeedsReauthorisation:
		return "the partner's re-authorisation (`cspsync connect`)"
	}
	return "the partner's authorisation (`cspsync connect`)"
}
