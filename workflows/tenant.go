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

// Payloads of the tenant signals.
type (
	// ConsentChange reports admin consent granted or revoked.
	ConsentChange struct{ Granted bool }
	// RelationshipChange overrides DAP or GDAP.
	RelationshipChange struct{ Relationship domain.Relationship }
	// PauseRequest pauses the tenant until resumed.
	PauseRequest struct{ Reason string }
	// LeftNotice says Partner Center no longer lists the tenant's customer:
	// the complete discovery at At did not find it.
	LeftNotice struct{ At time.Time }
	// MicrosoftRelationship is the tenant's relationship as a discovery found
	// it (an override by hand included) and what its GDAP relationships
	// come to.
	MicrosoftRelationship struct {
		Relationship domain.Relationship
		GDAP         domain.GDAPState
	}
)

// Messages of the tenant workflow.
var (
	SignalConsent      = Signal[ConsentChange]{Name: "consent"}
	SignalRelationship = Signal[RelationshipChange]{Name: "relationship"}
	SignalPause        = Signal[PauseRequest]{Name: "pause"}
	SignalResume       = Signal[struct{}]{Name: "resume"}
	SignalSync         = Signal[struct{}]{Name: "sync"}
	// SignalLeft ends the workflow of a tenant that left Partner Center.
	SignalLeft = Signal[LeftNotice]{Name: "left-partner-center"}
	// SignalMicrosoftRelationship brings what a discovery found.
	SignalMicrosoftRelationship = Signal[MicrosoftRelationship]{Name: "microsoft-relationship"}
	// QueryTenantState returns the TenantState.
	QueryTenantState = Query[TenantState]{Name: "state"}
)

// TenantWorkflowID is the readable id of a tenant's entity workflow.
func TenantWorkflowID(partnerID, tenantID string) string {
	return "tenant/" + partnerID + "/" + tenantID
}

// TenantInput starts (or continues) a tenant workflow.
type TenantInput struct {
	PartnerID string
	TenantID  string
	Settings  activities.TenantSettings
	State     TenantState
}

// TenantState is carried across continue-as-new.
type TenantState struct {
	CustomerName  string
	Relationship  domain.Relationship
	Consent       domain.Consent
	Paused        bool
	PauseReason   string
	Blocked       *domain.ErrorInfo // a failure a person must fix; cleared by any signal
	SyncRequested bool
	Status        domain.TenantState // the derived lifecycle state
	Reason        string
	Syncs         int
	LastSyncAt    time.Time
	LastError     *domain.ErrorInfo
	Runs          int
	Licences      LicenceState
	Users         UserState
	// LeftAt: Partner Center no longer lists the customer; the run ends.
	LeftAt *time.Time `json:",omitempty"`
	// GDAP is what the partner's GDAP relationships with the tenant came to
	// at the last discovery: one that ended pauses a GDAP tenant.
	GDAP domain.GDAPState `json:",omitzero"`
}

// derive computes the lifecycle state from the facts.
func (s *TenantState) derive() (domain.TenantState, string) {
	switch {
	case s.LeftAt != nil:
		return domain.TenantLeft, domain.LeftReason(*s.LeftAt)
	case s.Paused:
		return domain.TenantPaused, s.PauseReason
	case s.GDAP.PausesTenant(s.Relationship):
		return domain.TenantPaused, s.GDAP.PauseReason()
	case s.Consent.Missing():
		return domain.TenantAwaitingConsent, "admin consent for the Graph app is missing: `cspsync consent url <tenant>`"
	case s.Blocked != nil:
		return domain.TenantBlocked, s.Blocked.Code + ": " + s.Blocked.Remediation
	case s.LastError != nil:
		// A transient failure outlived its retries; the tenant stays Ready
		// and the next sync clears it.
		return domain.TenantReady, "last sync failed at " + s.LastError.At.UTC().Format("2006-01-02 15:04 UTC") +
			": " + s.LastError.Code + ": " + s.LastError.Remediation
	case s.Users.LastError != nil:
		// The users round needs someone (a mapping, the database): say so
		// where the tenant is listed, until a round succeeds.
		return domain.TenantReady, "last users round failed at " + s.Users.LastError.At.UTC().Format("2006-01-02 15:04 UTC") +
			": " + s.Users.LastError.Code + ": " + s.Users.LastError.Remediation
	default:
		return domain.TenantReady, ""
	}
}

func (s *TenantState) setRelationship(rel domain.Relationship) {
	s.Relationship = rel
	s.Consent = domain.ConsentFor(rel, s.Consent)
}

// TenantWorkflow is one customer tenant's long-running entity. It waits for
// what it needs (admin consent, the partner's re-authorisation), syncs when
// Ready (on a timer or when asked), and continues as new after every sync so
// its history stays bounded however long it lives.
func TenantWorkflow(ctx workflow.Context, in TenantInput) error {
	if in.Settings.SyncInterval <= 0 {
		in.Settings.SyncInterval = time.Hour
	}
	w := &tenantWorkflow{in: in, s: in.State, wake: workflow.NewBufferedChannel(ctx, 1),
		logger: log.With(workflow.GetLogger(ctx), "partner", in.PartnerID, "tenant", in.TenantID),
		changes: []workflow.ReceiveChannel{SignalConsent.Channel(ctx), SignalRelationship.Channel(ctx),
			SignalPause.Channel(ctx), SignalResume.Channel(ctx), SignalSync.Channel(ctx)}}
	if w.s.Consent == "" {
		w.s.setRelationship(w.s.Relationship)
	}
	if err := QueryTenantState.Handle(ctx, func() (TenantState, error) { return w.s, nil }); err != nil {
		return err
	}
	// Before the Update handler: an Update that arrived with this run's
	// first task is validated as soon as its handler is set.
	w.withLicences = workflow.GetVersion(ctx, "licence-import", workflow.DefaultVersion, 1) >= 1
	w.withUsers = workflow.GetVersion(ctx, "user-sync", workflow.DefaultVersion, 1) >= 1
	if err := UpdateImportLicences.Handle(ctx, w.importAndWait, w.validateImport); err != nil {
		return err
	}
	if err := UpdateSyncUsers.Handle(ctx, w.syncUsersAndWait, w.validateSyncUsers); err != nil {
		return err
	}
	return w.run(ctx)
}

type tenantWorkflow struct {
	in     TenantInput
	s      TenantState
	logger log.Logger
	shown  string // last state written to the store and search attributes in this run
	// withLicences: this run imports licences (runs started before the
	// licence step was added replay without it).
	withLicences bool
	licences     runs // what Updates wait on, within this run
	// withUsers: this run syncs users after the Graph sync.
	withUsers bool
	users     runs
	details   currentDetails
	wake      workflow.Channel
	// changes are the signals that change the tenant's state; one the main
	// loop has not taken yet may be about to make an Update possible
	// (validators cannot look channels up themselves).
	changes []workflow.ReceiveChannel
}

// changing is true when a signal that changes the tenant's state has
// arrived and the main loop is about to take it: an Update validated in the
// same task (`consent grant` then `sync --tenant --wait`) must not be
// refused on the state before it.
func (w *tenantWorkflow) changing() bool {
	for _, c := range w.changes {
		if c.Len() > 0 {
			return true
		}
	}
	return false
}

func (w *tenantWorkflow) selector(ctx workflow.Context) workflow.Selector {
	sel := workflow.NewSelector(ctx)
	SignalConsent.Select(ctx, sel, func(c ConsentChange) {
		if c.Granted {
			w.s.Consent = domain.ConsentGranted
			w.s.SyncRequested = true
		} else {
			w.s.Consent = domain.ConsentRevoked
		}
		w.s.Blocked = nil
	})
	SignalRelationship.Select(ctx, sel, func(r RelationshipChange) {
		w.s.setRelationship(r.Relationship)
		w.s.Blocked = nil
		w.s.SyncRequested = true
	})
	SignalPause.Select(ctx, sel, func(p PauseRequest) { w.s.Paused, w.s.PauseReason = true, p.Reason })
	SignalResume.Select(ctx, sel, func(struct{}) {
		w.s.Paused, w.s.PauseReason = false, ""
		w.s.Blocked = nil
		w.s.SyncRequested = true
	})
	SignalSync.Select(ctx, sel, func(struct{}) {
		w.s.Blocked = nil
		w.s.SyncRequested = true
	})
	SignalImportLicences.Select(ctx, sel, func(struct{}) { w.s.Licences.Requested = true })
	SignalLeft.Select(ctx, sel, func(n LeftNotice) {
		// A run that took this signal before tenants could leave ignored it.
		if workflow.GetVersion(ctx, "tenant-left", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return
		}
		w.s.LeftAt = &n.At
	})
	SignalMicrosoftRelationship.Select(ctx, sel, func(m MicrosoftRelationship) {
		// A run that took this signal before relationships were detected ignored it.
		if workflow.GetVersion(ctx, "gdap-detected", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return
		}
		wasPaused := w.s.GDAP.PausesTenant(w.s.Relationship)
		if m.Relationship != "" && m.Relationship != w.s.Relationship {
			w.s.setRelationship(m.Relationship)
			w.s.Blocked = nil
			w.s.SyncRequested = true
		}
		w.s.GDAP = m.GDAP
		if wasPaused && !w.s.GDAP.PausesTenant(w.s.Relationship) {
			w.s.SyncRequested = true // a new relationship resumes it
		}
	})
	sel.AddReceive(w.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	return sel
}

func (w *tenantWorkflow) run(ctx workflow.Context) error {
	for {
		if w.s.LeftAt != nil {
			return w.leave(ctx)
		}
		status, reason := w.s.derive()
		if err := w.show(ctx, status, reason); err != nil {
			return err
		}
		// A cycle: licences (they need no consent: Partner Center answers
		// for the partner), then the Graph sync when Ready.
		ready := status == domain.TenantReady
		if ready && (w.s.SyncRequested || w.licencesAsked() || w.users.wanted || w.syncDue(ctx)) ||
			w.licencesAllowed(status) && (w.licencesAsked() || w.licencesDue(ctx)) {
			w.details.working(ctx)
			if err := w.cycle(ctx, ready); err != nil {
				return err
			}
			if done, err := w.continueAsNew(ctx); done {
				return err
			}
			continue
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if done, err := w.continueAsNew(ctx); done {
				return err
			}
			continue
		}
		// Wait for a signal, or for the next cycle. A fresh selector each
		// round, so a cancelled timer never fires a later Select.
		sel := w.selector(ctx)
		tctx, cancelTimer := workflow.WithCancel(ctx)
		// The timers carry a summary and the wait is written in the current
		// details, for a person reading the Temporal UI.
		var wait time.Duration
		var timer string
		switch {
		case ready:
			wait, timer = w.in.Settings.SyncInterval-workflow.Now(ctx).Sub(w.s.LastSyncAt), "next sync"
		case w.licencesAllowed(status):
			wait, timer = w.in.Settings.SyncInterval-workflow.Now(ctx).Sub(w.s.Licences.LastAt), "next licence import"
		}
		what := w.waitsFor(status)
		if timer != "" {
			at := workflow.Now(ctx).Add(wait).UTC().Format(detailsTime)
			what += ", or the " + timer + " at " + at
			sel.AddFuture(workflow.NewTimerWithOptions(tctx, wait, workflow.TimerOptions{Summary: w.summary(timer) + " at " + at}),
				func(workflow.Future) {})
		}
		w.details.waiting(ctx, what)
		// Awaited, not blocked on: a selector blocked on a channel takes a
		// signal off it the moment it arrives, before the loop runs, and an
		// Update validated in the same task would see neither the signal
		// nor its effect.
		if err := workflow.Await(ctx, sel.HasPending); err != nil {
			cancelTimer()
			return err
		}
		sel.Select(ctx)
		cancelTimer()
	}
}

func (w *tenantWorkflow) cycle(ctx workflow.Context, ready bool) error {
	if w.withLicences {
		// The whole cycle is the tenant's sync, licences included.
		if err := w.show(ctx, domain.TenantSyncing, ""); err != nil {
			return err
		}
		if err := w.importLicences(ctx); err != nil {
			return err
		}
		if w.s.Paused { // the partner's credentials failed: nothing else can work
			return nil
		}
	}
	if !ready {
		return nil
	}
	if err := w.sync(ctx); err != nil {
		return err
	}
	if status, _ := w.s.derive(); w.withUsers && status == domain.TenantReady && w.s.LastError == nil {
		return w.syncUsers(ctx)
	}
	return nil
}

func (w *tenantWorkflow) syncDue(ctx workflow.Context) bool {
	return w.s.LastSyncAt.IsZero() || workflow.Now(ctx).Sub(w.s.LastSyncAt) >= w.in.Settings.SyncInterval
}

func (w *tenantWorkflow) sync(ctx workflow.Context) error {
	w.s.SyncRequested = false
	if err := w.show(ctx, domain.TenantSyncing, ""); err != nil {
		return err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		Summary: w.summary("sync"),
		// A tenant read is a few Graph calls (their throttling waits
		// included): a worker that died mid-read is given up on, and the
		// read retried elsewhere, within two minutes, not ten.
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        6,
			NonRetryableErrorTypes: domain.Permanent(),
		},
	})
	var res activities.TenantSyncResult
	err := workflow.ExecuteActivity(actx, acts.SyncTenant, w.in.PartnerID, w.in.TenantID).Get(ctx, &res)
	now := workflow.Now(ctx)
	w.s.LastSyncAt = now // also after a failure: the next try waits for the interval or a signal
	if err == nil {
		w.s.Syncs++
		w.s.LastError = nil
		return nil
	}
	info := activities.ErrorInfoOf(err, domain.OpSync)
	info.At = now
	w.s.LastError = &info
	w.logger.Warn("tenant sync failed", "code", info.Code, "type", info.Reaction)
	switch info.Reaction {
	case domain.AwaitConsent:
		w.s.Consent = w.s.Consent.Refused() // as the activity recorded it
	case domain.Reauthorise:
		return w.partnerUnusable(ctx, info)
	case domain.NeedsFix, domain.Degrade:
		w.s.Blocked = &info
	}
	return nil
}

// leave ends the run of a tenant Partner Center no longer lists: it
// publishes the Left state, lets waiting Updates see it and completes, so no
// timer outlives it. Discovery starts a new run if the tenant comes back.
func (w *tenantWorkflow) leave(ctx workflow.Context) error {
	status, reason := w.s.derive()
	if err := w.show(ctx, status, reason); err != nil {
		return err
	}
	w.logger.Info("tenant left Partner Center: its workflow ends")
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// halted says whether the tenant can do no work at all now, and why: it is
// paused or has left Partner Center.
func (w *tenantWorkflow) halted() (bool, string) {
	status, reason := w.s.derive()
	return status == domain.TenantPaused || status == domain.TenantLeft, reason
}

// partnerUnusable pauses the tenant and tells the partner, which pauses
// every other tenant too.
func (w *tenantWorkflow) partnerUnusable(ctx workflow.Context, info domain.ErrorInfo) error {
	w.s.Paused, w.s.PauseReason = true, "the partner needs re-authorisation ("+info.Code+")"
	return SignalNeedsReauthorisation.SendExternal(ctx, PartnerWorkflowID(w.in.PartnerID), info).Get(ctx, nil)
}

// continueAsNew first drains signals that arrived meanwhile into the state
// and waits for Updates to finish. It returns false, without continuing,
// when an Update asks for a licence import meanwhile: it runs in this run.
func (w *tenantWorkflow) continueAsNew(ctx workflow.Context) (bool, error) {
	sel := w.selector(ctx)
	for sel.HasPending() {
		sel.Select(ctx)
	}
	if err := workflow.Await(ctx, func() bool {
		return workflow.AllHandlersFinished(ctx) || w.licences.wanted || w.users.wanted
	}); err != nil {
		return true, err
	}
	if w.licences.wanted || w.users.wanted {
		return false, nil
	}
	w.s.Runs++
	return true, workflow.NewContinueAsNewError(ctx, TenantWorkflow, TenantInput{
		PartnerID: w.in.PartnerID, TenantID: w.in.TenantID, Settings: w.in.Settings, State: w.s})
}

// show publishes a state change: to the store (for the CLI and the consent
// page), to search attributes and the UI's current details.
func (w *tenantWorkflow) show(ctx workflow.Context, status domain.TenantState, reason string) error {
	w.s.Status, w.s.Reason = status, reason
	key := fmt.Sprint(status, "|", reason, "|", w.s.Consent, "|", w.s.Relationship)
	if key == w.shown {
		return nil
	}
	w.shown = key
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(lctx, acts.RecordTenantState, w.in.TenantID, status, reason).Get(ctx, nil); err != nil {
		return err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		SearchPartnerID.ValueSet(w.in.PartnerID), SearchTenantID.ValueSet(w.in.TenantID),
		SearchCustomerName.ValueSet(w.s.CustomerName), SearchRelationship.ValueSet(string(w.s.Relationship)),
		SearchConsentState.ValueSet(string(w.s.Consent)), SearchSyncState.ValueSet(string(status))); err != nil {
		return err
	}
	d := fmt.Sprintf("**%s** — %s, consent %s, %d syncs", status, w.s.Relationship, w.s.Consent, w.s.Syncs)
	if reason != "" {
		d += "\n\n" + reason
	}
	if e := w.s.LastError; e != nil {
		d += fmt.Sprintf("\n\nLast error %s: %s", e.Code, e.Remediation)
	}
	w.details.setState(ctx, d)
	return nil
}

// waitsFor says in words what a tenant in status waits for between cycles.
func (w *tenantWorkflow) waitsFor(status domain.TenantState) string {
	switch status {
	case domain.TenantAwaitingConsent:
		return "the customer's admin consent (`cspsync consent url " + w.in.TenantID + "`)"
	case domain.TenantPaused:
		return "the end of its pause (the reason above says what ends it)"
	case domain.TenantBlocked:
		return "a fix, then a sync (`cspsync sync --tenant " + w.in.TenantID + "`)"
	}
	return "a request (`cspsync sync --tenant " + w.in.TenantID + "`)"
}

// summary names an activity or timer for the Temporal UI: what it does and for which customer.
func (w *tenantWorkflow) summary(what string) string { return what + " of " + w.s.CustomerName }
