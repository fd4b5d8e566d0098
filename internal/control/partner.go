package control

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/text"
	"github.com/cspsync/cspsync/workflows"
)

var (
	guidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	partnerIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// PartnerConfig is a partner's two app registrations, as `connect` stores them.
type PartnerConfig = store.PartnerConfig

// ConnectRequest is a partner's configuration and the settings of its workflows.
type ConnectRequest struct {
	PartnerConfig
	// DiscoveryHeartbeat is how long a crashed worker may hold a discovery.
	DiscoveryHeartbeat time.Duration
	// TenantSyncInterval is how often each Ready tenant syncs on its own.
	TenantSyncInterval time.Duration
	// DiscoveryInterval is how often the schedule rediscovers (<= 0 removes it).
	DiscoveryInterval time.Duration
	// ForgetUnreadable is the recovery after a lost key: drop what the
	// configured key cannot open (see Control.ForgetUnreadable) first.
	ForgetUnreadable bool
}

// Connected is what Connect did.
type Connected struct {
	Partner      string
	WorkflowID   string   // the partner's workflow, as the Temporal UI lists it
	AuthorizeURL string   // single use, 30 minutes
	Warnings     []string // likely mistakes worth a second look
	// Forgotten lists the partners whose secrets or tokens ForgetUnreadable
	// dropped; each needs `cspsync connect` and a sign-in.
	Forgotten []string
}

func (r *ConnectRequest) validate() (PartnerConfig, []string, error) {
	pc := r.PartnerConfig
	if !partnerIDRE.MatchString(pc.ID) {
		return pc, nil, fmt.Errorf("--partner %q: use lowercase letters, digits and dashes (at most 63)", pc.ID)
	}
	if pc.DisplayName == "" {
		pc.DisplayName = pc.ID
	}
	if pc.PartnerTenantID == "" {
		return pc, nil, errors.New("--partner-tenant is empty: give the partner's Entra tenant id or primary domain")
	}
	for _, f := range []struct{ flag, v string }{{"--pc-client-id", pc.PCClientID}, {"--graph-client-id", pc.GraphClientID}} {
		if !guidRE.MatchString(f.v) {
			return pc, nil, fmt.Errorf("%s %q is not an application (client) id: copy the GUID from Entra ID > App registrations > Overview", f.flag, f.v)
		}
	}
	rel, err := domain.ParseRelationship(string(pc.DefaultRelationship))
	if err != nil {
		return pc, nil, fmt.Errorf("--default-relationship: %w", err)
	}
	pc.DefaultRelationship = rel
	if pc.LicenceSource == "" {
		pc.LicenceSource = domain.FromSubscribedSkus
	}
	if pc.LicenceSource, err = domain.ParseLicenceSource(string(pc.LicenceSource)); err != nil {
		return pc, nil, fmt.Errorf("--licence-source: %w", err)
	}
	for _, f := range []struct{ flag, v string }{{"--authority-url", pc.AuthorityURL}, {"--partner-center-url", pc.PartnerCenterURL}, {"--graph-url", pc.GraphURL}} {
		if !strings.HasPrefix(f.v, "https://") {
			return pc, nil, fmt.Errorf("%s %q must be an https:// URL (MSAL and Microsoft accept nothing else)", f.flag, f.v)
		}
	}
	var warnings []string
	for _, s := range []struct{ flag, v string }{{"--pc-client-secret", pc.PCClientSecret}, {"--graph-client-secret", pc.GraphClientSecret}} {
		if s.v == "" {
			return pc, nil, fmt.Errorf("%s is empty: copy the secret's Value from Entra ID > App registrations > Certificates & secrets", s.flag)
		}
		if guidRE.MatchString(s.v) {
			warnings = append(warnings, s.flag+" looks like a secret ID (a GUID), not a secret value; Entra ID will answer AADSTS7000215. Copy the Value column instead.")
		}
	}
	return pc, warnings, nil
}

// Connect stores the partner, makes sure its workflow and discovery schedule
// run and returns a single-use sign-in link (state and PKCE verifier kept in
// the store). The key must open the stored data; with ForgetUnreadable,
// what it cannot open is dropped first.
func (c *Control) Connect(ctx context.Context, r ConnectRequest) (Connected, error) {
	pc, warnings, err := r.validate()
	if err != nil {
		return Connected{}, err
	}
	var forgotten []string
	if r.ForgetUnreadable {
		if forgotten, err = c.ForgetUnreadable(ctx); err != nil {
			return Connected{}, err
		}
	}
	st, err := c.sealed(ctx)
	if err != nil {
		return Connected{}, err
	}
	tc, err := c.client(ctx)
	if err != nil {
		return Connected{}, err
	}
	if err := st.UpsertPartner(ctx, pc); err != nil {
		return Connected{}, err
	}
	settings := workflows.PartnerSettings{DiscoveryHeartbeat: r.DiscoveryHeartbeat,
		Tenant: activities.TenantSettings{SyncInterval: r.TenantSyncInterval}}
	if err := workflows.EnsurePartner(ctx, tc, c.cfg.TaskQueue, pc.ID, settings); err != nil {
		return Connected{}, err
	}
	if err := workflows.EnsureDiscoverySchedule(ctx, tc, c.cfg.TaskQueue, pc.ID, r.DiscoveryInterval); err != nil {
		return Connected{}, err
	}
	creds, err := st.Credentials(ctx, pc.ID)
	if err != nil {
		return Connected{}, err
	}
	state := microsoft.RandomToken()
	verifier, challenge := microsoft.PKCE()
	redirect := c.redirectURI(config.CallbackPath)
	if _, err := st.CreateAuthRequest(ctx, store.AuthRequest{State: state, PartnerID: pc.ID, Kind: "authorise",
		CodeVerifier: verifier, RedirectURI: redirect, TTL: 30 * time.Minute}); err != nil {
		return Connected{}, err
	}
	auth, err := c.microsoft(ctx)
	if err != nil {
		return Connected{}, err
	}
	u, err := auth.AuthorizeURL(ctx, creds, redirect, state, challenge)
	return Connected{Partner: pc.ID, WorkflowID: workflows.PartnerWorkflowID(pc.ID), AuthorizeURL: u, Warnings: warnings,
		Forgotten: forgotten}, err
}

func (c *Control) redirectURI(path string) string {
	return strings.TrimRight(c.cfg.PublicURL, "/") + path
}

// ErrBadCallback means a browser redirect carried a state cspsync did not
// issue for it, or one already used or expired: nothing was recorded.
var ErrBadCallback = errors.New("callback not accepted")

// Refused is Microsoft's refusal of a sign-in or consent, classified.
type Refused struct{ domain.ErrorInfo }

func (r *Refused) Error() string { return r.Code + ": " + r.Cause }

// Callback is what Microsoft's redirect brought back.
type Callback struct {
	State, Code, Error, ErrorDescription string
	// Consent callbacks only.
	AdminConsent, Tenant string
}

// refusal classifies the error a redirect brought back; op says whose: the
// partner's sign-in or a tenant's admin consent.
// clean bounds and strips what a browser sent, before anything stores,
// logs or echoes it (states and codes are base64url and pass unchanged).
func (cb Callback) clean() Callback {
	for _, f := range []*string{&cb.State, &cb.Code, &cb.Error, &cb.ErrorDescription, &cb.AdminConsent, &cb.Tenant} {
		*f = text.Clean(*f, text.MaxMessage)
	}
	return cb
}

func (cb Callback) refusal(op domain.Operation) *Refused {
	return &Refused{microsoft.Refusal(op, cb.Error, cb.ErrorDescription).Info()}
}

// consume takes the single-use state of a callback of the given kind.
func (c *Control) consume(ctx context.Context, state, kind string) (store.AuthRequest, error) {
	st, err := c.db(ctx)
	if err != nil {
		return store.AuthRequest{}, err
	}
	return c.authRequest(ctx, state, kind, st.ConsumeAuthRequest)
}

// authRequest reads a callback's state with read (looking or consuming); a
// state not issued for this kind of callback, used or expired is ErrBadCallback.
func (c *Control) authRequest(ctx context.Context, state, kind string, read func(context.Context, string) (store.AuthRequest, error)) (store.AuthRequest, error) {
	req, err := read(ctx, state)
	if err == nil && req.Kind != kind {
		err = store.ErrUnknownState
	}
	if errors.Is(err, store.ErrUnknownState) || errors.Is(err, store.ErrStateUsed) || errors.Is(err, store.ErrStateExpired) {
		return req, fmt.Errorf("%w: %w (%s)", ErrBadCallback, err, restartFix(kind))
	}
	return req, err
}

// restartFix says how to start a browser round-trip again: the partner's
// sign-in comes from `cspsync connect`, a tenant's consent from a new link.
func restartFix(kind string) string {
	if kind == "consent" {
		return "ask for a new consent link: `cspsync consent url <tenant>` or the tenants page"
	}
	return "start again with `cspsync connect`"
}

// CompleteAuthorisation finishes the partner's sign-in: the state must be
// one cspsync issued and not yet used (else ErrBadCallback, with nothing
// stored or signalled); the code is redeemed with MSAL and the tokens kept
// encrypted. A refusal is recorded once and the partner marked as needing
// attention; no retry follows.
func (c *Control) CompleteAuthorisation(ctx context.Context, cb Callback) (string, error) {
	cb = cb.clean()
	st, err := c.db(ctx)
	if err != nil {
		return "", err
	}
	req, err := c.consume(ctx, cb.State, "authorise")
	if err != nil {
		return "", err
	}
	if cb.Error != "" {
		return req.PartnerID, c.failAuthorisation(ctx, req.PartnerID, cb.refusal(domain.OpAuthorise))
	}
	creds, err := st.Credentials(ctx, req.PartnerID)
	if err != nil {
		return req.PartnerID, err
	}
	auth, err := c.microsoft(ctx)
	if err != nil {
		return req.PartnerID, err
	}
	// A sign-in cspsync started may store tokens again after a disconnect.
	if err := st.AllowTokens(ctx, req.PartnerID); err != nil {
		return req.PartnerID, err
	}
	account, err := auth.RedeemCode(ctx, creds, cb.Code, req.CodeVerifier, req.RedirectURI)
	if err != nil {
		return req.PartnerID, c.failAuthorisation(ctx, req.PartnerID, &Refused{microsoft.Classify(err).For(domain.OpAuthorise).Info()})
	}
	tc, err := c.client(ctx)
	if err != nil {
		return req.PartnerID, err
	}
	if err := st.SetPartnerAuthorised(ctx, req.PartnerID, account); err != nil {
		return req.PartnerID, err
	}
	if err := st.ResolvePartnerErrors(ctx, req.PartnerID); err != nil {
		return req.PartnerID, err
	}
	return req.PartnerID, workflows.SignalPartner(ctx, tc, c.cfg.TaskQueue, req.PartnerID, workflows.SignalAuthorised, struct{}{})
}

// failAuthorisation records a failed sign-in. A partner that is authorised
// stays so unless the failure says its credentials are unusable: a
// cancelled or refused sign-in leaves its stored tokens working.
func (c *Control) failAuthorisation(ctx context.Context, partnerID string, r *Refused) error {
	st, err := c.db(ctx)
	if err != nil {
		return err
	}
	p, err := st.GetPartner(ctx, partnerID)
	if err != nil {
		return err
	}
	if p.AuthState == domain.AuthAuthorised && r.Reaction != domain.Reauthorise {
		if err := st.RecordError(ctx, partnerID, "", domain.OpAuthorise, r.ErrorInfo); err != nil {
			return err
		}
		kept := *r
		kept.Remediation = "Nothing changed: partner " + partnerID + " stays authorised and its tenants keep syncing. " + r.Remediation
		return &kept
	}
	tc, err := c.client(ctx)
	if err != nil {
		return err
	}
	err = errors.Join(
		st.RecordError(ctx, partnerID, "", domain.OpAuthorise, r.ErrorInfo),
		st.SetPartnerAuthState(ctx, partnerID, domain.AuthNeedsReauthorisation),
		workflows.SignalPartner(ctx, tc, c.cfg.TaskQueue, partnerID, workflows.SignalAuthorisationFailed, r.ErrorInfo),
	)
	if err != nil {
		return err
	}
	return r
}

// Disconnect forgets the partner's tokens; its workflow pauses every tenant
// until the partner is authorised again.
func (c *Control) Disconnect(ctx context.Context, partnerID string) error {
	st, err := c.db(ctx)
	if err != nil {
		return err
	}
	if _, err := st.GetPartner(ctx, partnerID); err != nil {
		return err
	}
	tc, err := c.client(ctx)
	if err != nil {
		return err
	}
	if err := st.Disconnect(ctx, partnerID); err != nil {
		return err
	}
	return workflows.SignalPartner(ctx, tc, c.cfg.TaskQueue, partnerID, workflows.SignalDisconnected, struct{}{})
}

// RequestDiscovery asks the partner's workflow to discover; it runs once the
// partner is authorised.
func (c *Control) RequestDiscovery(ctx context.Context, partnerID string) error {
	tc, err := c.client(ctx)
	if err != nil {
		return err
	}
	st, err := workflows.QueryPartnerState.Get(ctx, tc, workflows.PartnerWorkflowID(partnerID))
	if err != nil {
		return fmt.Errorf("partner %s has no running workflow (%w): run `cspsync connect` first", partnerID, err)
	}
	if err := workflows.SignalPartner(ctx, tc, c.cfg.TaskQueue, partnerID, workflows.SignalDiscover, struct{}{}); err != nil {
		return err
	}
	if st.Auth != domain.AuthAuthorised {
		return fmt.Errorf("partner %s is %s: discovery will run once it is authorised (`cspsync connect`)", partnerID, st.Auth)
	}
	return nil
}

// Discover runs a discovery and returns its counts once it has finished
// (a Temporal Update, so nothing polls for the result). A discovery that
// keeps failing and retrying (Microsoft unreachable, throttled for long)
// ends the wait early with the recorded cause and fix, as does the timeout:
// only when nothing is recorded is the worker the suspect.
func (c *Control) Discover(ctx context.Context, partnerID string, timeout time.Duration) (DiscoveryResult, error) {
	tc, err := c.client(ctx)
	if err != nil {
		return DiscoveryResult{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type outcome struct {
		res DiscoveryResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := workflows.UpdateDiscover.Execute(wctx, tc, workflows.PartnerWorkflowID(partnerID), struct{}{})
		done <- outcome{res, err}
	}()
	// The activity's retries happen inside Temporal; its pending state shows them.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case o := <-done:
			return o.res, c.discoverFailed(ctx, tc, partnerID, timeout, wctx.Err() != nil, o.err)
		case <-tick.C:
			if err := c.retryingDiscovery(ctx, tc, partnerID, giveUpAfterFailures); err != nil {
				return DiscoveryResult{}, err
			}
		}
	}
}

// giveUpAfterFailures is how many failed attempts of a discovery `sync
// --wait` sees before it reports the cause instead of waiting on: past the
// short backoffs (1 s, 2 s, 4 s), a failure is not a blip.
const giveUpAfterFailures = 3

func (c *Control) discoverFailed(ctx context.Context, tc temporalClient, partnerID string, timeout time.Duration, timedOut bool, err error) error {
	var nf *serviceerror.NotFound
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return fmt.Errorf("partner %s has no running workflow: run `cspsync connect` first", partnerID)
	case errors.As(err, &app):
		return fmt.Errorf("discovery of %s: %s", partnerID, app.Message())
	case timedOut:
		if err := c.retryingDiscovery(ctx, tc, partnerID, 1); err != nil {
			return err
		}
		return fmt.Errorf("discovery of %s did not finish within %s (is the worker running? see `cspsync status`)", partnerID, timeout)
	}
	return fmt.Errorf("discovery of %s: %w", partnerID, err)
}

// retryingDiscovery returns, as an error with its recorded cause and fix,
// a discovery of the partner that has failed at least failures times and
// is waiting to retry; nil otherwise.
func (c *Control) retryingDiscovery(ctx context.Context, tc temporalClient, partnerID string, failures int32) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	desc, err := tc.DescribeWorkflowExecution(ctx, workflows.PartnerWorkflowID(partnerID), "")
	if err != nil {
		return nil
	}
	for _, a := range desc.GetPendingActivities() {
		if a.GetActivityType().GetName() != "DiscoverTenants" || a.GetLastFailure() == nil || a.GetAttempt()-1 < failures {
			continue
		}
		last := a.GetLastFailure().GetMessage()
		if e := c.openDiscoveryError(ctx, partnerID); e != nil {
			last = e.Code + ": " + strings.TrimSuffix(e.Message, ".") + ". Fix: " + e.Remediation
		}
		return fmt.Errorf("discovery of %s has failed %d times and keeps retrying in the background (`cspsync status` shows when it recovers). Last failure: %s",
			partnerID, a.GetAttempt()-1, last)
	}
	return nil
}

// openDiscoveryError is the partner's open discovery error, if one is recorded.
func (c *Control) openDiscoveryError(ctx context.Context, partnerID string) *IntegrationError {
	st, err := c.db(ctx)
	if err != nil {
		return nil
	}
	errs, err := st.ListErrors(ctx, partnerID, false)
	if err != nil {
		return nil
	}
	for i, e := range errs {
		if e.TenantID == "" && e.Operation == domain.OpDiscovery {
			return &errs[i]
		}
	}
	return nil
}

// PartnerStatus is one partner as `cspsync status` shows it.
type PartnerStatus struct {
	Partner         string                     `json:"partner"`
	Auth            domain.AuthState           `json:"auth"`
	Workflow        string                     `json:"workflow"`
	Customers       int                        `json:"customers"`
	Discoveries     int                        `json:"discoveries"`
	LastDiscoveryAt *time.Time                 `json:"lastDiscoveryAt"`
	OpenErrors      int                        `json:"openErrors"`
	Tenants         map[domain.TenantState]int `json:"tenants"` // tenant count by lifecycle state
	LicenceSource   domain.LicenceSource       `json:"licenceSource"`
	Seats           licensing.Seats            `json:"seats"` // over all customers' licences
	Users           UserTotals                 `json:"users"`
	NeedsAttention  bool                       `json:"needsAttention"`
	Next            string                     `json:"next"`
}

// UserTotals sums a partner's PSA users and its running users rounds.
type UserTotals struct {
	Active        int `json:"active"`
	All           int `json:"all"`
	RoundsRunning int `json:"roundsRunning"`
	// RunningUsers counts the users the running rounds have read so far.
	RunningUsers int `json:"runningUsers"`
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
		s := PartnerStatus{Partner: p.ID, Auth: p.AuthState, Workflow: "not running", LastDiscoveryAt: p.LastDiscoveryAt,
			LicenceSource: p.LicenceSource}
		lic, err := c.Licences(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		s.Seats = lic.Total
		if wf, err := workflows.QueryPartnerState.Get(ctx, tc, workflows.PartnerWorkflowID(p.ID)); err == nil {
			s.Workflow, s.Discoveries = string(wf.Auth), wf.Discoveries
		}
		users, err := st.UserSummaries(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			s.Users.add(u)
		}
		customers, err := st.ListCustomers(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		s.Tenants = map[domain.TenantState]int{}
		for _, cu := range customers {
			if cu.TenantID != "" {
				s.Customers++
				s.Tenants[cu.SyncState]++
			}
		}
		errs, err := st.ListErrors(ctx, p.ID, false)
		if err != nil {
			return nil, err
		}
		s.OpenErrors = len(errs)
		s.NeedsAttention = p.AuthState != domain.AuthAuthorised || len(errs) > 0 || keyProblem != ""
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
		case len(errs) > 0:
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
