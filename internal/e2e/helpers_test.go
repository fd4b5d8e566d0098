// Package e2e runs cspsync end to end: the real CLI and worker code, a real
// Temporal dev server, a real PostgreSQL and the Microsoft simulator over
// HTTPS with the real MSAL client.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/cli"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// runCLI runs `cspsync args...` in-process against the stack and returns
// what it printed (stdout, then stderr).
func runCLI(t testing.TB, s *testenv.Stack, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := runCLISplit(t, s, args...)
	return out + errOut, err
}

func runCLISplit(t testing.TB, s *testenv.Stack, args ...string) (string, string, error) {
	t.Helper()
	app := cli.New()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	global := []string{"cspsync", "--database-url", s.Worker.DatabaseURL, "--encryption-key", s.Worker.EncryptionKey,
		"--temporal-address", s.Worker.TemporalAddress, "--task-queue", s.Worker.TaskQueue}
	if len(args) > 0 && args[0] == "check" { // check reports the worker's operators rule: give it the worker's
		o := s.Worker.Operators
		args = append([]string{"check", "--operators", strings.Join(o.UPNs, ","), "--operator-group", o.Group,
			"--operators-everyone-in-partner-tenant=" + strconv.FormatBool(o.EveryoneInPartnerTenant)}, args[1:]...)
	}
	err := app.RunContext(context.Background(), append(global, args...))
	return out.String(), errOut.String(), err
}

type connectOpts struct {
	partner, pcSecret, graphSecret, relationship string
	heartbeat, tenantSyncInterval                time.Duration
	licenceSource                                string // default subscribed-skus
	forgetUnreadable                             bool   // recover from a lost key first
}

// connect runs `cspsync connect` for the simulator's partner and returns the sign-in link.
func connect(t testing.TB, s *testenv.Stack, o connectOpts) string {
	t.Helper()
	if o.pcSecret == "" {
		o.pcSecret = sim.DefaultPCSecret
	}
	if o.relationship == "" {
		o.relationship = "DAP"
	}
	if o.heartbeat == 0 {
		o.heartbeat = 30 * time.Second
	}
	if o.tenantSyncInterval == 0 {
		o.tenantSyncInterval = time.Hour
	}
	if o.graphSecret == "" {
		o.graphSecret = sim.DefaultGraphSecret
	}
	if o.licenceSource == "" {
		o.licenceSource = "subscribed-skus"
	}
	out, errOut, err := runCLISplit(t, s, connectArgs(s, o)...)
	require.NoError(t, err, errOut)
	var res control.Connected
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.NotEmpty(t, res.AuthorizeURL)
	return res.AuthorizeURL
}

func connectArgs(s *testenv.Stack, o connectOpts) []string {
	args := []string{"connect", "--partner", o.partner, "--json", "--ca-file", s.Sim.CAFile(),
		"--public-url", s.Worker.PublicURL, "--partner-tenant", s.Scenario.PartnerTenantID,
		"--pc-client-id", sim.DefaultPCClientID, "--pc-client-secret", o.pcSecret,
		"--graph-client-id", sim.DefaultGraphClientID, "--graph-client-secret", o.graphSecret,
		"--authority-url", s.Sim.URL(), "--partner-center-url", s.Sim.URL(), "--graph-url", s.Sim.URL(),
		"--default-relationship", o.relationship, "--discovery-heartbeat", o.heartbeat.String(),
		"--tenant-sync-interval", o.tenantSyncInterval.String(), "--licence-source", o.licenceSource}
	if o.forgetUnreadable {
		args = append(args, "--forget-unreadable")
	}
	return args
}

// signIn completes the simulator's sign-in (password + MFA) and delivers the
// redirect to the worker's callback; it returns the callback's status and page.
func signIn(t testing.TB, s *testenv.Stack, authorizeURL string) (int, string, string) {
	t.Helper()
	redirect, err := sim.SignIn(context.Background(), s.HTTP, authorizeURL, sim.DefaultAdminUPN, sim.DefaultAdminPassword, sim.DefaultMFACode)
	require.NoError(t, err)
	status, body := s.FollowRedirect(redirect.String())
	return status, body, redirect.String()
}

// waitPartner polls the partner workflow until cond holds.
func waitPartner(t testing.TB, s *testenv.Stack, partner string, d time.Duration, cond func(workflows.PartnerState) bool) workflows.PartnerState {
	t.Helper()
	var last workflows.PartnerState
	ok := assert.Eventually(t, func() bool {
		st, err := workflows.QueryPartnerState.Get(context.Background(), s.Client, workflows.PartnerWorkflowID(partner))
		if err != nil {
			return false
		}
		last = st
		return cond(st)
	}, d, 100*time.Millisecond)
	if !ok {
		require.FailNow(t, "partner workflow never reached the expected state", "last: %+v", last)
	}
	return last
}

// tokenRequests counts every token endpoint call the simulator has seen.
func tokenRequests(s *testenv.Stack) int {
	n := 0
	for _, byClient := range s.Sim.Stats().TokenRequests {
		for _, c := range byClient {
			n += c
		}
	}
	return n
}

// waitTenants polls the store's mirror of the tenant workflows until cond
// holds for the partner's tenants, keyed by tenant id.
func waitTenants(t testing.TB, s *testenv.Stack, d time.Duration, cond func(map[string]store.Customer) bool) map[string]store.Customer {
	t.Helper()
	var last map[string]store.Customer
	ok := assert.Eventually(t, func() bool {
		cs, err := s.Store.ListCustomers(context.Background(), "acme")
		if err != nil {
			t.Logf("listing tenants: %v", err)
			return false
		}
		last = map[string]store.Customer{}
		for _, c := range cs {
			last[c.TenantID] = c
		}
		return cond(last)
	}, d, 100*time.Millisecond)
	if !ok {
		require.FailNow(t, "tenants never reached the expected states", "last: %s", describe(last))
	}
	return last
}

func describe(ts map[string]store.Customer) string {
	var b strings.Builder
	for id, c := range ts {
		fmt.Fprintf(&b, "\n  %s %s %s consent=%s %s", id, c.Relationship, c.SyncState, c.ConsentState, c.SyncReason)
	}
	return b.String()
}

// allIn is true when every given tenant is in state.
func allIn(ts map[string]store.Customer, state domain.TenantState, tenants ...sim.Tenant) bool {
	for _, tn := range tenants {
		if ts[tn.ID].SyncState != state {
			return false
		}
	}
	return true
}

// authorise connects the partner, signs in and waits for the discovery that
// follows; it returns the sign-in's redirect to the callback.
func authorise(t testing.TB, s *testenv.Stack, o connectOpts) string {
	t.Helper()
	o.partner = "acme"
	before := 0
	if st, err := workflows.QueryPartnerState.Get(context.Background(), s.Client, workflows.PartnerWorkflowID("acme")); err == nil {
		before = st.Discoveries
	}
	status, page, redirect := signIn(t, s, connect(t, s, o))
	require.Equal(t, http.StatusOK, status, page)
	waitPartner(t, s, "acme", time.Minute, func(st workflows.PartnerState) bool { return st.Discoveries > before })
	return redirect
}

// pendingActivities counts the activities a workflow has scheduled or running
// (a retry loop shows here).
func pendingActivities(t testing.TB, s *testenv.Stack, workflowID string) int {
	t.Helper()
	desc, err := s.Client.DescribeWorkflow(context.Background(), workflowID, "")
	require.NoError(t, err)
	return len(desc.RawResponse.GetPendingActivities())
}

// operatorSignIn fills in the simulator's sign-in pages (password, then MFA)
// for a partner user the browser was sent to sign in as an operator.
func operatorSignIn(upn string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.CSS(`input[name="login"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), upn),
		chromedp.SendKeys(chromedp.CSS(`input[name="passwd"]`), sim.DefaultAdminPassword),
		chromedp.Click(`//button[normalize-space()="Sign in"]`),
		chromedp.WaitVisible(chromedp.CSS(`input[name="otc"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="otc"]`), sim.DefaultMFACode),
		chromedp.Click(`//button[normalize-space()="Verify"]`),
	}
}

// listErrors returns the partner's errors (open only unless all) but the
// sign-in pass's refusals of tenants without Entra ID P1/P2, which users
// rounds record on purpose and which are none of the caller's concern.
func listErrors(t testing.TB, s *testenv.Stack, partnerID string, all bool) []store.IntegrationError {
	t.Helper()
	errs, err := s.Store.ListErrors(context.Background(), partnerID, all)
	require.NoError(t, err)
	out := errs[:0]
	for _, e := range errs {
		if e.Operation != domain.OpSignIns {
			out = append(out, e)
		}
	}
	return out
}
