package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

func TestDAPReadyGDAPWaitsForConsentThroughPageAndCLIAndSurvivesRestarts(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 11, Tenants: 6, GDAP: 3, UsersPerTenant: 1})
	dap, gdap := sc.Tenants[:3], sc.Tenants[3:]
	s := testenv.NewStack(t, sc, sim.Options{})
	stopWorker := s.StartWorker()

	// The partner's default is GDAP; Partner Center says the three DAP
	// tenants allow delegated access, so they are DAP without an override.
	authorise(t, s, connectOpts{relationship: "GDAP"})
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantAwaitingConsent, gdap...) && allIn(ts, domain.TenantReady, dap...) && ts[dap[0].ID].LastSyncAt != nil
	})

	// GDAP tenant 1: consented by its Global Administrator through the tenants page.
	byPage := gdap[0]
	ctx := testenv.Browser(t, s.Sim.CAFile())
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// The page needs an operator: the browser is sent to sign in with the partner's tenant first.
	require.NoError(t, chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(s.Worker.PublicURL + "/")},
		operatorSignIn(sim.DefaultOperatorUPN)...)...))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(`//h1[contains(., "Overview")]`), // a sign-in lands on the overview
		chromedp.Navigate(s.Worker.PublicURL+"/tenants"),
		chromedp.WaitVisible(`//h1[normalize-space()="Customer tenants"]`),
		chromedp.Click(`//tr[@data-tenant="`+byPage.ID+`"]//button[contains(., "Grant admin consent")]`),
		chromedp.WaitVisible(chromedp.CSS(`input[name="login"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), byPage.Admin.UPN),
		chromedp.SendKeys(chromedp.CSS(`input[name="passwd"]`), byPage.Admin.Password),
		chromedp.Click(`//button[normalize-space()="Sign in"]`),
		chromedp.WaitVisible(chromedp.CSS(`input[name="otc"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="otc"]`), byPage.Admin.MFACode),
		chromedp.Click(`//button[normalize-space()="Verify"]`),
		chromedp.Click(`//button[normalize-space()="Accept"]`),
		chromedp.WaitVisible(`//h1[contains(., "Admin consent granted")]`),
	))
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	require.NoError(t, err)
	assert.Contains(t, body, byPage.ID)
	assert.True(t, s.Sim.ConsentState(byPage.ID), "the simulator recorded the consent")

	// GDAP tenant 2: consented elsewhere, recorded with the CLI.
	byCLI := gdap[1]
	require.NoError(t, s.Sim.GrantConsent(byCLI.ID))
	out, err := runCLI(t, s, "consent", "grant", byCLI.ID)
	require.NoError(t, err, out)

	waiting := gdap[2]
	ts := waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantReady, dap[0], dap[1], dap[2], byPage, byCLI) &&
			ts[byPage.ID].LastSyncAt != nil && ts[byCLI.ID].LastSyncAt != nil
	})
	assert.Equal(t, domain.TenantAwaitingConsent, ts[waiting.ID].SyncState)
	assert.Equal(t, domain.ConsentGranted, ts[byPage.ID].ConsentState)

	// The page now shows the waiting tenant with its consent link, the others without.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(s.Worker.PublicURL+"/tenants")))
	links, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tbody`)))
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(links, "Grant admin consent"))

	// The third keeps waiting across a worker restart and a Temporal restart.
	stopWorker()
	s.Temporal.Restart(nil)
	s.StartWorker()
	st := queryTenantEventually(t, s, waiting.ID)
	assert.Equal(t, domain.TenantAwaitingConsent, st.Status)
	assert.Equal(t, domain.TenantReady, queryTenantEventually(t, s, byPage.ID).Status)
	desc, err := s.Client.DescribeWorkflow(context.Background(), workflows.TenantWorkflowID("acme", waiting.ID), "")
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.Status)
	// Readable in the Temporal UI: the static summary lasts until the first
	// continue-as-new (a waiting tenant's licence cycles), the search
	// attributes and current details are set by every run.
	name, ok := desc.TypedSearchAttributes.GetKeyword(workflows.SearchCustomerName)
	assert.True(t, ok)
	assert.Equal(t, waiting.Name, name, "readable in the Temporal UI")

	// ...and still reacts: consent arrives after the restarts.
	require.NoError(t, s.Sim.GrantConsent(waiting.ID))
	_, err = runCLI(t, s, "consent", "grant", waiting.ID)
	require.NoError(t, err)
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })

	// Search attributes make the states findable in the Temporal UI. Visibility is eventually
	// consistent: the last tenant's Ready reaches the store before the index.
	assert.Eventually(t, func() bool {
		resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: `SyncState = "Ready" AND PartnerId = "acme" AND ExecutionStatus = "Running"`})
		require.NoError(t, err)
		return len(resp.Executions) == 6
	}, 30*time.Second, 100*time.Millisecond, "six running tenants found by SyncState = Ready")
}

func queryTenantEventually(t *testing.T, s *testenv.Stack, tenantID string) workflows.TenantState {
	t.Helper()
	var st workflows.TenantState
	require.Eventually(t, func() bool {
		var err error
		st, err = workflows.QueryTenantState.Get(context.Background(), s.Client, workflows.TenantWorkflowID("acme", tenantID))
		return err == nil
	}, 30*time.Second, 100*time.Millisecond)
	return st
}

func TestRevokedRefreshTokenPausesEveryTenantUntilReauthorised(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 12, Tenants: 4, UsersPerTenant: 1})
	// Short-lived access tokens: MSAL refreshes at every call, as after an hour in production.
	s := testenv.NewStack(t, sc, sim.Options{AccessTokenLifetime: time.Minute})
	s.StartWorker()
	ctx := context.Background()
	ss := secretSet{}
	ss.add(kindClientSecret, sim.DefaultPCSecret, sim.DefaultGraphSecret)
	ss.addRedirect(t, authorise(t, s, connectOpts{}))
	first := waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantReady, sc.Tenants...) && ts[sc.Tenants[0].ID].LastSyncAt != nil
	})

	pcRefreshes := func() int { return s.Sim.Stats().TokenRequests["refresh_token"][sim.DefaultPCClientID] }
	assert.Positive(t, pcRefreshes(), "expired access tokens were refreshed silently from the encrypted cache")
	ss.addTokens(t, s) // before the new sign-in replaces them

	s.Sim.RevokeRefreshTokens() // a password reset
	refreshesBefore, requestsBefore := pcRefreshes(), tokenRequests(s)
	_, err := runCLI(t, s, "sync", "--partner", "acme")
	require.NoError(t, err)
	st := waitPartner(t, s, "acme", 30*time.Second, func(st workflows.PartnerState) bool {
		return st.Auth == domain.AuthNeedsReauthorisation && st.TenantsPaused
	})
	assert.Equal(t, "AADSTS50173", st.LastError.Code)
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantPaused, sc.Tenants...) })
	for _, tn := range sc.Tenants {
		desc, err := s.Client.DescribeWorkflow(ctx, workflows.TenantWorkflowID("acme", tn.ID), "")
		require.NoError(t, err)
		assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.Status, "paused, not failed")
	}
	errs := listErrors(t, s, "acme", false)
	require.Len(t, errs, 1)
	assert.Equal(t, "AADSTS50173", errs[0].Code)
	assert.Contains(t, errs[0].Remediation, "cspsync connect")
	// The discovery's one refresh met the revoked token; nothing tried again.
	assert.Equal(t, 1, pcRefreshes()-refreshesBefore, "the revoked refresh token was tried once")
	assert.Equal(t, 1, tokenRequests(s)-requestsBefore, "and no other token was asked for")
	assert.Zero(t, pendingActivities(t, s, workflows.PartnerWorkflowID("acme")))
	out, err := runCLI(t, s, "status")
	require.NoError(t, err)
	assert.Contains(t, out, "4 Paused")

	// Re-authorise: every tenant resumes with its state (its sync count) intact.
	ss.addRedirect(t, authorise(t, s, connectOpts{}))
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool {
		for _, tn := range sc.Tenants {
			if ts[tn.ID].SyncState != domain.TenantReady || !ts[tn.ID].LastSyncAt.After(*first[tn.ID].LastSyncAt) {
				return false
			}
		}
		return true
	})
	tst, err := workflows.QueryTenantState.Get(ctx, s.Client, workflows.TenantWorkflowID("acme", sc.Tenants[0].ID))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, tst.Syncs, 2)
	errs = listErrors(t, s, "acme", false)
	assert.Empty(t, errs, "re-authorisation resolved the error")

	ss.addTokens(t, s)
	ss.addVerifiers(s)
	assertNoSecretInHistories(t, s, ss, kindClientSecret, kindCode, kindState, kindVerifier, kindToken)
}

func TestExpiredSecretPausesTenantsWithoutRetryStorm(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 13, Tenants: 5, UsersPerTenant: 1})
	// Cached app tokens outlive an expired secret; short-lived ones meet it at once.
	s := testenv.NewStack(t, sc, sim.Options{AccessTokenLifetime: time.Minute})
	s.StartWorker()
	ctx := context.Background()
	ss := secretSet{}
	ss.add(kindClientSecret, sim.DefaultPCSecret, sim.DefaultGraphSecret)
	ss.addRedirect(t, authorise(t, s, connectOpts{}))
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })
	ss.addTokens(t, s) // before the new sign-in replaces them

	s.Sim.ExpireSecret(sim.DefaultGraphClientID)
	graphTokens := func() int { return s.Sim.Stats().TokenRequests["client_credentials"][sim.DefaultGraphClientID] }
	before := graphTokens()
	// One tenant syncs and meets the expired secret: all tenants pause.
	_, err := runCLI(t, s, "tenants", "sync", sc.Tenants[2].ID)
	require.NoError(t, err)
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantPaused, sc.Tenants...) })
	st := waitPartner(t, s, "acme", 10*time.Second, func(st workflows.PartnerState) bool { return st.TenantsPaused })
	assert.Equal(t, "AADSTS7000222", st.LastError.Code)

	// Asking every tenant to sync while paused sends nothing to Microsoft:
	// each takes the request in and stays paused, with nothing running.
	for _, tn := range sc.Tenants {
		_, err := runCLI(t, s, "tenants", "sync", tn.ID)
		require.NoError(t, err)
	}
	for _, tn := range sc.Tenants {
		id := workflows.TenantWorkflowID("acme", tn.ID)
		require.Eventually(t, func() bool {
			st, err := workflows.QueryTenantState.Get(ctx, s.Client, id)
			return err == nil && st.SyncRequested && st.Status == domain.TenantPaused
		}, 30*time.Second, 50*time.Millisecond, "tenant %s never took the sync request in", tn.ID)
		assert.Zero(t, pendingActivities(t, s, id))
	}
	assert.Equal(t, 1, graphTokens()-before, "one token request met the expired secret; nothing retried it")

	errs := listErrors(t, s, "acme", false)
	require.Len(t, errs, 1)
	assert.Equal(t, "AADSTS7000222", errs[0].Code)
	assert.Empty(t, errs[0].TenantID, "a partner-wide problem is one partner row")
	assert.Contains(t, errs[0].Remediation, "new client secret")

	// A new secret and a re-authorisation bring every tenant back.
	s.Sim.AddSecret(sim.DefaultGraphClientID, "rotated-graph-secret-value")
	ss.add(kindClientSecret, "rotated-graph-secret-value")
	ss.addRedirect(t, authorise(t, s, connectOpts{graphSecret: "rotated-graph-secret-value"}))
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })

	ss.addTokens(t, s)
	ss.addVerifiers(s)
	assertNoSecretInHistories(t, s, ss, kindClientSecret, kindCode, kindState, kindVerifier, kindToken)
}

func TestCheckPrintsTicksAndCrossesAndFailsWhenOneFails(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 14, Tenants: 3, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	stopWorker := s.StartWorker()
	authorise(t, s, connectOpts{relationship: "DAP"})
	gdap := sc.Tenants[2]
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })

	out, err := runCLI(t, s, "check", "--ca-file", s.Sim.CAFile())
	require.NoError(t, err, out)
	assert.NotContains(t, out, "✗")
	assert.Contains(t, out, "✓ Temporal reachable")
	assert.Contains(t, out, "✓ partner acme: Partner Center reachable")
	assert.Contains(t, out, "✓ partner acme: Graph reachable in 3 of 3 consented tenants")

	// Without the simulator's CA file, a certificate that does not verify is
	// its own failure with its fix, never a network blip cspsync retries.
	out, err = runCLI(t, s, "check", "--ca-file=")
	require.Error(t, err)
	t.Log(out)
	assert.Contains(t, out, "✗ CA bundle usable")
	assert.NotContains(t, out, "✓ CA bundle usable")
	assert.Regexp(t, `✗ partner acme: Partner Center reachable .*CertificateNotTrusted`, out)
	assert.Contains(t, out, "--ca-file or CSPSYNC_CA_FILE")
	assert.NotContains(t, out, "cspsync retries")

	// Moved to GDAP, the tenant needs an admin consent cspsync has not seen.
	_, err = runCLI(t, s, "tenants", "set-relationship", gdap.ID, "GDAP")
	require.NoError(t, err)
	out, err = runCLI(t, s, "check", "--ca-file", s.Sim.CAFile())
	require.Error(t, err)
	assert.Contains(t, out, "✗ partner acme: tenant "+gdap.Name)
	assert.Contains(t, out, "cspsync consent url "+gdap.ID)
	assert.Contains(t, out, "✓ partner acme: Graph reachable in 2 of 2 consented tenants")

	// A consent recorded but not real in Microsoft shows as a Graph failure
	// with its fix (the worker is stopped, so the tenant's own sync does not
	// record the revocation first).
	stopWorker()
	require.NoError(t, s.Sim.RevokeConsent(gdap.ID))
	_, err = runCLI(t, s, "consent", "grant", gdap.ID)
	require.NoError(t, err)
	out, err = runCLI(t, s, "check", "--ca-file", s.Sim.CAFile())
	require.Error(t, err)
	assert.Contains(t, out, "✗ partner acme: Graph reachable in "+gdap.Name)
	// A cached app token meets Graph's refusal; a fresh one Entra's.
	assert.Regexp(t, `(Authorization_IdentityNotFound|AADSTS7000229): .*Grant admin consent`, out)
}

func TestTenantHistoryStaysBoundedAcross100Cycles(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 15, Tenants: 1, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	tenant := sc.Tenants[0].ID
	// Drive 100 sync cycles, each asked for once the previous one finished.
	// Timer-driven cycles are covered by the workflow unit tests. Temporal
	// starts a continued run at most once a second per workflow id
	// (history.workflowIdReuseMinimalInterval), so this takes ~100 s.
	var st workflows.TenantState
	deadline := time.Now().Add(3 * time.Minute)
	for want := 1; want <= 100; want++ {
		for {
			var err error
			st, err = workflows.QueryTenantState.Get(context.Background(), s.Client, workflows.TenantWorkflowID("acme", tenant))
			if err == nil && st.Syncs >= want && st.Runs >= want { // the next run has started
				break
			}
			require.True(t, time.Now().Before(deadline), "stuck before cycle %d: %+v %v", want, st, err)
			time.Sleep(2 * time.Millisecond)
		}
		require.NoError(t, workflows.SignalSync.Send(context.Background(), s.Client, workflows.TenantWorkflowID("acme", tenant), struct{}{}))
	}

	ctx := context.Background()
	resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000,
		Query: `WorkflowId = "` + workflows.TenantWorkflowID("acme", tenant) + `"`})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(resp.Executions), 100, "one run per cycle")
	longest := 0
	for _, ex := range resp.Executions {
		if ex.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			continue
		}
		longest = max(longest, int(ex.HistoryLength))
	}
	assert.LessOrEqual(t, longest, 40, "each run's history is a single cycle")
	t.Logf("%d syncs in %d runs; longest closed run has %d events", st.Syncs, len(resp.Executions), longest)
}

func TestDisconnectPausesTenantsAndReauthorisationResumesThemWithTheirState(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 16, Tenants: 3, UsersPerTenant: 1})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	ctx := context.Background()
	authorise(t, s, connectOpts{})
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })
	before, err := workflows.QueryTenantState.Get(ctx, s.Client, workflows.TenantWorkflowID("acme", sc.Tenants[0].ID))
	require.NoError(t, err)

	out, err := runCLI(t, s, "disconnect", "--partner", "acme")
	require.NoError(t, err, out)
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantPaused, sc.Tenants...) })
	var caches int
	require.NoError(t, s.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM token_caches WHERE partner_id = 'acme'`).Scan(&caches))
	assert.Zero(t, caches, "the partner's tokens are gone")
	p, err := s.Store.GetPartner(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, domain.AuthPending, p.AuthState)

	authorise(t, s, connectOpts{})
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })
	after, err := workflows.QueryTenantState.Get(ctx, s.Client, workflows.TenantWorkflowID("acme", sc.Tenants[0].ID))
	require.NoError(t, err)
	assert.Greater(t, after.Syncs, before.Syncs, "resumed and synced, counting on from where it was")
	assert.Equal(t, before.CustomerName, after.CustomerName)
}

// A consent or a resume that reaches a tenant's workflow in the same task as
// an Update that waits on it is seen by the Update's validator: `sync
// --tenant --wait` right after `consent grant`, and `licences import --wait`
// right after the partner resumed its tenants, are not refused once with a
// state that is already past. The worker is stopped while both go in.
func TestTenantUpdatesInTheTaskOfAConsentOrResumeSeeIt(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 14, Tenants: 3, UsersPerTenant: 2})
	consenting, resuming := sc.Tenants[0], sc.Tenants[1]
	s := testenv.NewStack(t, sc, sim.Options{})
	ctx := context.Background()
	stopWorker := s.StartWorker()
	authorise(t, s, connectOpts{})
	syncedAfter(t, s, sc, consenting.ID, time.Time{})
	out, err := runCLI(t, s, "tenants", "set-relationship", consenting.ID, "GDAP")
	require.NoError(t, err, out)
	// What the partner workflow sends its tenants while it cannot authenticate.
	require.NoError(t, workflows.SignalPause.Send(ctx, s.Client, workflows.TenantWorkflowID("acme", resuming.ID),
		workflows.PauseRequest{Reason: "the partner is needs_reauthorisation"}))
	waitTenants(t, s, 30*time.Second, func(ts map[string]store.Customer) bool {
		return ts[consenting.ID].SyncState == domain.TenantAwaitingConsent && ts[resuming.ID].SyncState == domain.TenantPaused
	})
	stopWorker()

	ctl := service.Open(s.Worker.Connection)
	t.Cleanup(ctl.Close)
	out, err = runCLI(t, s, "consent", "grant", consenting.ID)
	require.NoError(t, err, out)
	require.NoError(t, workflows.SignalResume.Send(ctx, s.Client, workflows.TenantWorkflowID("acme", resuming.ID), struct{}{}))
	users, licences := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := ctl.SyncUsers(ctx, consenting.ID, false, true, time.Minute, nil)
		users <- err
	}()
	go func() {
		_, err := ctl.ImportLicences(ctx, "acme", resuming.ID, true, time.Minute)
		licences <- err
	}()
	time.Sleep(time.Second) // lets the Updates reach the server before a worker polls: it only orders them
	s.StartWorker()
	assert.NoError(t, <-users, "users round after the consent")
	assert.NoError(t, <-licences, "licence import after the resume")
}
