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
	w.s.Licences.Requested = false
	w.licences.start()
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		Summary: w.summary("licences"),
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
	now := workflow.Now(ctx)
	w.s.Licences.LastAt = now
	if err == nil {
		w.s.Licences.Last, w.s.Licences.LastError = &res, nil
		w.licences.end(nil)
		return nil
	}
	info := activities.ErrorInfoOf(err, domain.OpLicences)
	info.At = now
	w.s.Licences.LastError = &info
	w.licences.end(&info)
	w.logger.Warn("licence import failed", "code", info.Code, "type", info.Reaction)
	if info.Reaction == domain.Reauthorise {
		return w.partnerUnusable(ctx, info)
	}
	return nil
}

func (w *tenantWorkflow) validateImport(workflow.Context, struct{}) error {
	halted, reason := w.halted()
	switch {
	case !w.withLicences:
		return fmt.Errorf("tenant %s runs a workflow started before licence import existed: it imports licences from its next cycle", w.in.TenantID)
	case halted && !w.changing():
		return fmt.Errorf("tenant %s is paused: %s", w.in.TenantID, reason)
	}
	return nil
}

// importAndWait asks for an import that starts after the request and
// returns its counts, or the failure it met.
func (w *tenantWorkflow) importAndWait(ctx workflow.Context, _ struct{}) (LicenceImportResult, error) {
	err := w.licences.askAndWait(ctx, w.wake, "LicenceImportFailed", func() error {
		halted, reason := w.halted()
		if !halted || w.changing() {
			return nil
		}
		return temporal.NewApplicationError(
			fmt.Sprintf("tenant %s was paused before its licences were imported: %s", w.in.TenantID, reason), "Paused")
	})
	if err != nil {
		return LicenceImportResult{}, err
	}
	return *w.s.Licences.Last, nil
}
