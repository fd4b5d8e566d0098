package control

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/text"
	"github.com/cspsync/cspsync/workflows"
)

var (
	guidRE      = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	partnerIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// PartnerConfig is a partner's two app registrations and its choices, as
// `connect` stores them. Secrets are sealed before they reach the database.
type PartnerConfig struct {
	ID                  string
	DisplayName         string
	PartnerTenantID     string // the partner's Entra tenant id or primary domain
	PCClientID          string
	PCClientSecret      string
	GraphClientID       string
	GraphClientSecret   string
	AuthorityURL        string
	PartnerCenterURL    string
	GraphURL            string
	DefaultRelationship domain.Relationship
	// LicenceSource is how licences are imported (default subscribed SKUs).
	LicenceSource domain.LicenceSource
	// TopLevel names the top level newly imported customers join ("" for none).
	TopLevel string
	// SSOAllowedTenants keeps the imported tenants on the self-service
	// portal's allowed-tenants list.
	SSOAllowedTenants bool
}

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
	Partner      string   `json:"partner"`
	WorkflowID   string   `json:"workflow_id"`   // the partner's workflow, as the Temporal UI lists it
	AuthorizeURL string   `json:"authorize_url"` // single use, 30 minutes
	Warnings     []string `json:"warnings"`      // likely mistakes worth a second look
	// Forgotten lists the partners whose secrets or tokens ForgetUnreadable
	// dropped; each needs `cspsync connect` and a sign-in.
	Forgotten []string `json:"forgotten"`
}

func (r *ConnectRequest) validate() (store.PartnerConfig, []string, error) {
	pc := store.PartnerConfig(r.PartnerConfig)
	if !partnerIDRE.MatchString(pc.ID) {
		return pc, nil, fmt.Errorf("--partner %q: use lowercase letters, digits and dashes (at most 63)", pc.ID)
	}
	var err error
	if pc.DisplayName, err = operatorText("--name", pc.DisplayName, maxName); err != nil {
		return pc, nil, err
	}
	if pc.DisplayName == "" {
		pc.DisplayName = pc.ID
	}
	if pc.TopLevel, err = operatorText("--top-level", pc.TopLevel, maxName); err != nil {
		return pc, nil, err
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
	return Connected{Partner: pc.ID, WorkflowID: workflows.PartnerWorkflowID(pc.ID), AuthorizeURL: u, Warnings: orEmpty(warnings),
		Forgotten: orEmpty(forgotten)}, err
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

// clean bounds and strips what a browser sent, before anything stores,
// logs or echoes it (states and codes are base64url and pass unchanged).
func (cb Callback) clean() Callback {
	for _, f := range []*string{&cb.State, &cb.Code, &cb.Error, &cb.ErrorDescription, &cb.AdminConsent, &cb.Tenant} {
		*f = text.Clean(*f, text.MaxMessage)
	}
	return cb
}

// refusal classifies the error a redirect brought back; op says whose: the
// partner's sign-in or a tenant's admin consent.
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
