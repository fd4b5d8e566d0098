package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
)

// Messages of a tenant's licence import.
var (
	// SignalImportLicences: import the tenant's licences now.
	SignalImportLicences = Signal[struct{}]{Name: "import-licences"}
	// UpdateImportLicences imports the tenant's licences and returns the
	// counts once an import started after the request has finished.
	UpdateImportLicences = Update[struct{}, LicenceImportResult]{Name: "import-licences-and-wait"}
)

// LicenceImportResult counts one tenant's licence import.
type LicenceImportResult = activities.LicenceResult

// LicenceState is where the tenant's licence import stands, carried across
// continue-as-new: counts only, the rows are in PostgreSQL.
type LicenceState struct {
	Requested bool
	LastAt    time.Time
	Last      *LicenceImportResult
	LastError *domain.ErrorInfo
}

// licenceImports is what Updates wait on within one run.
type licenceImports struct {
	attempts  int
	lastErr   *domain.ErrorInfo
	importing bool
	wanted    bool // an Update asked for an import that has not started yet
}

func (w *tenantWorkflow) licencesAsked() bool { return w.s.Licences.Requested || w.licences.wanted }

// licencesAllowed: licences are read with the partner's Partner Center
// token, so a tenant waiting for consent imports them too; a paused one
// (the partner's credentials failed) does not.
func (w *tenantWorkflow) licencesAllowed(status domain.TenantState) bool {
	return w.withLicences && status != domain.TenantPaused
}

func (w *tenantWorkflow) licencesDue(ctx workflow.Context) bool {
	return w.s.Licences.LastAt.IsZero() || workflow.Now(ctx).Sub(w.s.Licences.LastAt) >= w.in.Settings.SyncInterval
}

// importLicences runs the licence import; its failures are the tenant's
// licence error, not a block: the tenant's other work goes on.
func (w *tenantWorkflow) importLicences(ctx workflow.Context) error {
	w.s.Licences.Requested, w.licences.wanted = false, false
	w.licences.importing = true
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// One customer is two Partner Center reads and a transaction: a
		// worker that dies mid-import is noticed, and retried, a minute later.
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        8,
			NonRetryableErrorTypes: domain.Permanent(),
		},
	})
	var res LicenceImportResult
	err := workflow.ExecuteActivity(actx, acts.ImportLicences, w.in.PartnerID, w.in.TenantID).Get(ctx, &res)
	w.licences.importing = false
	w.licences.attempts++
	now := workflow.Now(ctx)
	w.s.Licences.LastAt = now
	if err == nil {
		w.s.Licences.Last, w.s.Licences.LastError, w.licences.lastErr = &res, nil, nil
		return nil
	}
	info, kind, ok := activities.ErrorInfoOf(err)
	if !ok {
		info = domain.ErrorInfo{Code: "Internal", Cause: err.Error(), Remediation: "See the worker log; `cspsync licences import` tries again."}
	}
	info.At = now
	w.s.Licences.LastError, w.licences.lastErr = &info, &info
	w.logger.Warn("licence import failed", "code", info.Code, "type", kind)
	if kind == domain.Reauthorise {
		return w.partnerUnusable(ctx, info)
	}
	return nil
}

func (w *tenantWorkflow) validateImport(workflow.Context, struct{}) error {
	halted, reason := w.halted()
	switch {
	case !w.withLicences:
		return fmt.Errorf("tenant %s runs a workflow started before licence import existed: it imports licences from its next cycle", w.in.TenantID)
	case halted:
		return fmt.Errorf("tenant %s is paused: %s", w.in.TenantID, reason)
	}
	return nil
}

// importAndWait asks for an import that starts after the request and
// returns its counts, or the failure it met.
func (w *tenantWorkflow) importAndWait(ctx workflow.Context, _ struct{}) (LicenceImportResult, error) {
	target := w.licences.attempts + 1
	if w.licences.importing {
		target++ // the running one started before this request
	}
	w.licences.wanted = true
	w.wake.SendAsync(struct{}{})
	halted := func() bool { h, _ := w.halted(); return h }
	if err := workflow.Await(ctx, func() bool { return w.licences.attempts >= target || halted() }); err != nil {
		return LicenceImportResult{}, err
	}
	switch {
	case w.licences.attempts < target:
		_, reason := w.halted()
		return LicenceImportResult{}, temporal.NewApplicationError(
			fmt.Sprintf("tenant %s was paused before its licences were imported: %s", w.in.TenantID, reason), "Paused")
	case w.licences.lastErr != nil:
		e := w.licences.lastErr
		return LicenceImportResult{}, temporal.NewApplicationError(e.Code+": "+e.Cause+" "+e.Remediation, "LicenceImportFailed", *e)
	}
	return *w.s.Licences.Last, nil
}
