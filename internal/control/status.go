package control

import (
	"context"
	"errors"
	"time"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/workflows"
)

// PartnerStatus is one partner as `cspsync status` shows it.
type PartnerStatus struct {
	Partner         string                     `json:"partner"`
	Auth            domain.AuthState           `json:"auth_state"`
	Workflow        string                     `json:"workflow"` // the workflow's view of the authorisation, or "not running"
	Customers       int                        `json:"customers"`
	Discoveries     int                        `json:"discoveries"`
	LastDiscoveryAt *time.Time                 `json:"last_discovery_at"`
	OpenErrors      int                        `json:"open_errors"`
	Tenants         map[domain.TenantState]int `json:"tenants"` // tenant count by lifecycle state, every state listed
	LicenceSource   domain.LicenceSource       `json:"licence_source"`
	Seats           Seats                      `json:"seats"` // over all customers' licences
	Users           UserTotals                 `json:"users"`
	NeedsAttention  bool                       `json:"needs_attention"`
	Next            string                     `json:"next"`
}

// UserTotals sums a partner's PSA users and its running users rounds.
type UserTotals struct {
	Active        int `json:"active"`
	All           int `json:"all"`
	RoundsRunning int `json:"rounds_running"`
	// RunningUsers counts the users the running rounds have read so far.
	RunningUsers int `json:"running_users"`
}

func (t *UserTotals) add(u store.UserSummary) {
	t.Active += u.Active
	t.All += u.All
	if u.Running != nil {
		t.RoundsRunning++
		t.RunningUsers += u.Running.Users
	}
}

// Status reads each partner from the store and its workflow from Temporal.
func (c *Control) Status(ctx context.Context) ([]PartnerStatus, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	tc, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	partners, err := st.ListPartners(ctx)
	if err != nil {
		return nil, err
	}
	// A worker refuses to start on a key that does not open the stored
	// data; say so first, since nothing else works until it is fixed.
	keyProblem := ""
	if err := st.CheckKey(ctx); errors.Is(err, secrets.ErrDecrypt) {
		keyProblem = err.Error()
	} else if err != nil {
		return nil, err
	}
	out := []PartnerStatus{}
	for _, p := range partners {
		s, errs, err := c.partnerStatus(ctx, st, tc, p)
		if err != nil {
			return nil, err
		}
		s.OpenErrors = len(errs)
		// A sign-in pass refused for want of Entra ID P1/P2 is listed, but needs
		// no one: the tenant syncs on without last sign-in dates.
		attention := 0
		for _, e := range errs {
			if e.Operation != domain.OpSignIns {
				attention++
			}
		}
		s.NeedsAttention = p.AuthState != domain.AuthAuthorised || attention > 0 || keyProblem != ""
		partnerErr := partnerError(errs)
		var last *domain.ErrorInfo
		if partnerErr != nil {
			last = &domain.ErrorInfo{Code: partnerErr.Code, Remediation: partnerErr.Remediation}
		}
		switch {
		case keyProblem != "":
			s.Next = keyProblem
		case p.AuthState != domain.AuthAuthorised:
			s.Next = p.AuthState.NextStep(last)
		case partnerErr != nil:
			s.Next = partnerErr.Code + ": " + partnerErr.Remediation + " (`cspsync errors list` has all)"
		case attention > 0:
			s.Next = "see `cspsync errors list`"
		case s.Workflow == "not running":
			s.Next = "start the worker, then `cspsync connect` to restart the workflow"
		default:
			s.Next = "-"
		}
		out = append(out, s)
	}
	return out, nil
}

// partnerStatus counts a partner's customers, tenants, seats, users and
// open errors (returned, newest first) and asks its workflow how it stands.
func (c *Control) partnerStatus(ctx context.Context, st *store.Store, tc temporalClient, p store.Partner) (PartnerStatus, []IntegrationError, error) {
	s := PartnerStatus{Partner: p.ID, Auth: p.AuthState, Workflow: "not running", LastDiscoveryAt: utcPtr(p.LastDiscoveryAt),
		LicenceSource: p.LicenceSource, Tenants: map[domain.TenantState]int{}}
	lic, err := c.Licences(ctx, p.ID)
	if err != nil {
		return s, nil, err
	}
	s.Seats = lic.Total
	if wf, err := workflows.QueryPartnerState.Get(ctx, tc, workflows.PartnerWorkflowID(p.ID)); err == nil {
		s.Workflow, s.Discoveries = string(wf.Auth), wf.Discoveries
	}
	users, err := st.UserSummaries(ctx, p.ID)
	if err != nil {
		return s, nil, err
	}
	for _, u := range users {
		s.Users.add(u)
	}
	customers, err := st.ListCustomers(ctx, p.ID)
	if err != nil {
		return s, nil, err
	}
	for _, state := range domain.TenantStates() {
		s.Tenants[state] = 0
	}
	for _, cu := range customers {
		if cu.TenantID != "" {
			s.Customers++
			s.Tenants[cu.SyncState]++
		}
	}
	errs, err := c.Errors(ctx, p.ID, false)
	return s, errs, err
}

// partnerError is the latest open error of the partner itself (not one of
// its tenants'), or nil; errs come newest first.
func partnerError(errs []IntegrationError) *IntegrationError {
	for i := range errs {
		if errs[i].TenantID == "" {
			return &errs[i]
		}
	}
	return nil
}
