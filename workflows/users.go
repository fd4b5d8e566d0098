package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
)

// UserRoundResult counts one users round.
type UserRoundResult = activities.UserRoundResult

// UserSyncRequest asks for a users round; Full reads every user again.
type UserSyncRequest struct{ Full bool }

// UpdateSyncUsers runs a cycle of the tenant (licences, Graph, users) and
// returns the users round of a cycle started after the request.
var UpdateSyncUsers = Update[UserSyncRequest, UserRoundResult]{Name: "sync-users-and-wait"}

// UserState is where the tenant's users rounds stand, carried across
// continue-as-new: counts only, the users are in PostgreSQL.
type UserState struct {
	FullRequested bool
	LastAt        time.Time
	Last          *UserRoundResult
	LastError     *domain.ErrorInfo
}

// syncUsers runs the users round after a successful Graph sync. Its failures
// are the tenant's users error; a person must fix a mapping, Microsoft's
// refusals are handled like the sync's.
func (w *tenantWorkflow) syncUsers(ctx workflow.Context) error {
	full := w.s.Users.FullRequested
	w.s.Users.FullRequested = false
	w.users.start()
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		Summary:             w.summary("users round"),
		StartToCloseTimeout: 4 * time.Hour,
		// Pages heartbeat: a worker that dies mid-round is noticed within a
		// minute and another resumes at the next uncommitted page.
		HeartbeatTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        20,
			NonRetryableErrorTypes: domain.Permanent(),
		},
	})
	var res UserRoundResult
	err := workflow.ExecuteActivity(actx, acts.SyncUsers, w.in.PartnerID, w.in.TenantID, full).Get(ctx, &res)
	now := workflow.Now(ctx)
	w.s.Users.LastAt = now
	if err == nil {
		w.s.Users.Last, w.s.Users.LastError = &res, nil
		w.users.end(nil)
		return nil
	}
	info := activities.ErrorInfoOf(err, domain.OpUsers)
	info.At = now
	w.s.Users.LastError = &info
	w.users.end(&info)
	w.logger.Warn("users round failed", "code", info.Code, "type", info.Reaction)
	switch info.Reaction {
	case domain.AwaitConsent:
		w.s.Consent = w.s.Consent.Refused() // as the activity recorded it
	case domain.Reauthorise:
		return w.partnerUnusable(ctx, info)
	}
	return nil
}

func (w *tenantWorkflow) validateSyncUsers(_ workflow.Context, _ UserSyncRequest) error {
	switch status, reason := w.s.derive(); {
	case !w.withUsers:
		return fmt.Errorf("tenant %s runs a workflow started before users sync existed: it syncs users from its next cycle", w.in.TenantID)
	case status != domain.TenantReady && !w.changing():
		return fmt.Errorf("tenant %s is %s, so its users cannot be read: %s", w.in.TenantID, status, reason)
	}
	return nil
}

// syncUsersAndWait asks for a cycle that starts after the request and
// returns its users round, or the failure it met.
func (w *tenantWorkflow) syncUsersAndWait(ctx workflow.Context, req UserSyncRequest) (UserRoundResult, error) {
	w.s.Users.FullRequested = w.s.Users.FullRequested || req.Full
	err := w.users.askAndWait(ctx, w.wake, "UserRoundFailed", func() error {
		status, reason := w.s.derive()
		if status == domain.TenantReady || w.users.running || w.changing() {
			return nil
		}
		return temporal.NewApplicationError(
			fmt.Sprintf("tenant %s became %s before its users round ran: %s", w.in.TenantID, status, reason), "NotReady")
	})
	if err != nil {
		return UserRoundResult{}, err
	}
	return *w.s.Users.Last, nil
}
