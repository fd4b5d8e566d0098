package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/web"
	"github.com/cspsync/cspsync/workflows"
)

func TestAuthoriseAndDiscoverTenants(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 7, Tenants: 230, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	ctx := context.Background()
	// A PSA customer that exists before the partner is connected is linked by name.
	existing, err := testenv.CreateCustomer(ctx, s.Store, strings.ToUpper(sc.Tenants[3].Name))
	require.NoError(t, err)
	s.StartWorker()

	link := connect(t, s, connectOpts{partner: "acme"})
	st := waitPartner(t, s, "acme", 10*time.Second, func(st workflows.PartnerState) bool { return st.Auth == domain.AuthPending })
	assert.Zero(t, st.Discoveries, "nothing is discovered before authorisation")

	status, page, _ := signIn(t, s, link)
	require.Equal(t, http.StatusOK, status, page)

	st = waitPartner(t, s, "acme", 60*time.Second, func(st workflows.PartnerState) bool { return st.Discoveries == 1 })
	assert.Equal(t, domain.AuthAuthorised, st.Auth)
	assert.Equal(t, 230, st.LastDiscovery.Tenants)
	assert.Equal(t, 3, st.LastDiscovery.Pages, "page size 100")
	assert.Equal(t, 229, st.LastDiscovery.Inserted)
	assert.Equal(t, 1, st.LastDiscovery.Linked)

	customers, err := s.Store.ListCustomers(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, customers, 230)
	byTenant := map[string]store.Customer{}
	for _, c := range customers {
		byTenant[c.TenantID] = c
	}
	for _, tn := range sc.Tenants {
		c, ok := byTenant[tn.ID]
		require.True(t, ok, "tenant %s missing", tn.ID)
		assert.Equal(t, tn.Domain, c.Domain)
	}
	assert.Equal(t, existing, byTenant[sc.Tenants[3].ID].ID)

	// `cspsync sync --wait` discovers again: nothing new, everything updated.
	out, err := runCLI(t, s, "sync", "--partner", "acme", "--wait", "--timeout", "1m")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Discovered 230 tenants: 0 new, 0 linked by name, 230 updated.")
	n, err := testenv.CountCustomers(ctx, s.Store, "acme")
	require.NoError(t, err)
	assert.Equal(t, 230, n)

	// The schedule connect created rediscovers on its own; trigger it now,
	// once the 230 tenants' first cycles are over: the partner workflow's
	// tasks (and its queries) queue behind theirs on the task queue until then.
	waitTenants(t, s, 5*time.Minute, func(ts map[string]store.Customer) bool {
		for _, c := range ts {
			if !c.SyncState.Settled() {
				return false
			}
		}
		return len(ts) == 230
	})
	sched := s.Client.ScheduleClient().GetHandle(ctx, workflows.DiscoveryScheduleID("acme"))
	desc, err := sched.Describe(ctx)
	require.NoError(t, err)
	require.Len(t, desc.Schedule.Spec.Intervals, 1)
	assert.Equal(t, 6*time.Hour, desc.Schedule.Spec.Intervals[0].Every)
	require.NoError(t, sched.Trigger(ctx, client.ScheduleTriggerOptions{}))
	waitPartner(t, s, "acme", 30*time.Second, func(st workflows.PartnerState) bool { return st.Discoveries == 3 })

	out, err = runCLI(t, s, "status", "--json")
	require.NoError(t, err, out)
	var rows []control.PartnerStatus
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	require.Len(t, rows, 1)
	assert.Equal(t, domain.AuthAuthorised, rows[0].Auth)
	assert.Equal(t, string(domain.AuthAuthorised), rows[0].Workflow)
	assert.Equal(t, 230, rows[0].Customers)
	assert.Equal(t, 3, rows[0].Discoveries)
	assert.False(t, rows[0].NeedsAttention, func() string { out, _ := runCLI(t, s, "errors", "list"); return out }())

	out, err = runCLI(t, s, "customers", "list", "--partner", "acme")
	require.NoError(t, err)
	assert.Contains(t, out, sc.Tenants[0].ID)
	assert.Contains(t, out, "230 customers")
}

func TestSecretIDInsteadOfValueIsClassifiedOnceWithoutRetryStorm(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 1, Tenants: 3})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()

	link := connect(t, s, connectOpts{partner: "acme", pcSecret: sim.DefaultSecretID})
	before := tokenRequests(s)
	status, page, redirect := signIn(t, s, link)
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Contains(t, page, "AADSTS7000215")
	assert.Contains(t, page, "Value")

	st := waitPartner(t, s, "acme", 10*time.Second, func(st workflows.PartnerState) bool { return st.Auth == domain.AuthNeedsReauthorisation })
	require.NotNil(t, st.LastError)
	assert.Equal(t, "AADSTS7000215", st.LastError.Code)

	errs := listErrors(t, s, "acme", false)
	require.Len(t, errs, 1)
	assert.Equal(t, "AADSTS7000215", errs[0].Code)
	assert.Contains(t, errs[0].Remediation, "not the Secret ID")
	p, err := s.Store.GetPartner(context.Background(), "acme")
	require.NoError(t, err)
	assert.Equal(t, domain.AuthNeedsReauthorisation, p.AuthState)

	// No retry storm: the callback tried the code once, and with the partner
	// waiting for a new sign-in nothing is left running that could try again.
	assert.Equal(t, 1, tokenRequests(s)-before, "one redemption of the code, refused")
	assert.Zero(t, pendingActivities(t, s, workflows.PartnerWorkflowID("acme")))

	out, err := runCLI(t, s, "status")
	require.NoError(t, err)
	assert.Contains(t, out, "needs_reauthorisation")
	assert.Contains(t, out, "AADSTS7000215")
	out, err = runCLI(t, s, "errors", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "AADSTS7000215")

	ss := secretSet{}
	ss.add(kindClientSecret, sim.DefaultSecretID, sim.DefaultGraphSecret)
	ss.addRedirect(t, redirect)
	ss.addVerifiers(s)
	assertNoSecretInHistories(t, s, ss, kindClientSecret, kindCode, kindState, kindVerifier)
}

func TestCallbackRejectsUnknownAndReusedState(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 2, Tenants: 2})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	ctx := context.Background()

	link := connect(t, s, connectOpts{partner: "acme"})
	status, page, redirect := signIn(t, s, link)
	require.Equal(t, http.StatusOK, status, page)
	waitPartner(t, s, "acme", 30*time.Second, func(st workflows.PartnerState) bool { return st.Discoveries == 1 })

	// Replaying the very same callback (same state and code) is refused.
	status, page = s.FollowRedirect(redirect)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, page, "already used")

	// A state cspsync never issued is refused, even with a fresh, valid code.
	u, err := url.Parse(redirect)
	require.NoError(t, err)
	q := u.Query()
	q.Set("state", "forged-state")
	u.RawQuery = q.Encode()
	status, page = s.FollowRedirect(u.String())
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, page, "unknown state")

	// Nothing was stored or signalled by either.
	errs := listErrors(t, s, "acme", true)
	assert.Empty(t, errs)
	st, err := workflows.QueryPartnerState.Get(ctx, s.Client, workflows.PartnerWorkflowID("acme"))
	require.NoError(t, err)
	assert.Equal(t, domain.AuthAuthorised, st.Auth)
	assert.Equal(t, 1, st.Discoveries)
}

func TestNoSecretOrTokenInPartnerWorkflowHistory(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 3, Tenants: 120})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()

	status, page, redirect := signIn(t, s, connect(t, s, connectOpts{partner: "acme"}))
	require.Equal(t, http.StatusOK, status, page)
	waitPartner(t, s, "acme", 30*time.Second, func(st workflows.PartnerState) bool { return st.Discoveries == 1 })
	_, err := runCLI(t, s, "sync", "--partner", "acme", "--wait")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(s.Executions()), 2+120, "the partner's runs and the tenants'")

	// Every value that must stay secret: client secrets, the auth code, the
	// state, the PKCE verifier, and the refresh and access tokens from
	// MSAL's cache.
	ss := secretSet{}
	ss.add(kindClientSecret, sim.DefaultPCSecret, sim.DefaultGraphSecret)
	ss.addRedirect(t, redirect)
	ss.addVerifiers(s)
	ss.addTokens(t, s)
	require.GreaterOrEqual(t, len(ss[kindToken]), 2, "refresh and access tokens found in the cache")
	assertNoSecretInHistories(t, s, ss, kindClientSecret, kindCode, kindState, kindVerifier, kindToken)
}

// The sign-in's signal and a discover-and-wait Update sent right after it
// reach the partner workflow in one task (here forced: no worker polls
// until both are in): the Update sees the authorisation and runs, as it
// must for `make demo`, which once failed with "partner demo is pending".
func TestDiscoverUpdateInTheSignInsTaskSeesTheAuthorisation(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 12, Tenants: 5})
	s := testenv.NewStack(t, sc, sim.Options{})
	ctx := context.Background()
	stopWorker := s.StartWorker()
	link := connect(t, s, connectOpts{partner: "acme"})
	waitPartner(t, s, "acme", 10*time.Second, func(st workflows.PartnerState) bool { return st.Auth == domain.AuthPending })
	stopWorker()

	ctl := service.Open(s.Worker.Connection)
	t.Cleanup(ctl.Close)
	pages, err := (&web.Server{Control: ctl, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PublicURL: s.Worker.PublicURL, ListenAddr: s.Worker.HTTPAddr}).Handler()
	require.NoError(t, err)
	redirect, err := sim.SignIn(ctx, s.HTTP, link, sim.DefaultAdminUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	pages.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, redirect.String(), nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	type outcome struct {
		res control.Discovered
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := ctl.Discover(ctx, "acme", time.Minute)
		done <- outcome{res, err}
	}()
	time.Sleep(time.Second) // lets the Update reach the server before a worker polls: it only orders the two
	s.StartWorker()
	o := <-done
	require.NoError(t, o.err)
	assert.Equal(t, len(sc.Tenants), o.res.Tenants)
}
