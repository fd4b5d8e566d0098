package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// psaRow is a PSA user as the tests compare it with the simulator's truth.
type psaRow struct {
	Site, Name, Email, Login, Phone, Mobile, JobTitle, Department string
	Active                                                        bool
}

// expected is what the default field mappings make of a Graph user, in the
// given site.
func expected(u sim.TenantUser, site string) psaRow {
	email := u.Mail
	if email == "" {
		email = u.UserPrincipalName
	}
	return psaRow{Site: site, Name: u.DisplayName, Email: email, Login: u.OnPremisesSamAccountName, Phone: u.BusinessPhone,
		Mobile: u.MobilePhone, JobTitle: u.JobTitle, Department: u.Department, Active: u.AccountEnabled}
}

// psaUsers reads a tenant's PSA users imported from Microsoft, by Azure id.
func psaUsers(t *testing.T, s *testenv.Stack, tenantID string) map[string]psaRow {
	t.Helper()
	ctx := context.Background()
	cu, err := s.Store.GetCustomerByTenant(ctx, tenantID)
	require.NoError(t, err)
	us, err := s.Store.ListUsers(ctx, cu.ID)
	require.NoError(t, err)
	out := map[string]psaRow{}
	for _, u := range us {
		if u.AzureObjectID == "" {
			continue
		}
		out[u.AzureObjectID] = psaRow{Site: u.Site, Name: u.Name, Email: u.Email, Login: u.NetworkLogin, Phone: u.Phone,
			Mobile: u.Mobile, JobTitle: u.JobTitle, Department: u.Department, Active: u.Active}
	}
	return out
}

// row looks a PSA user up by Azure id, failing when he is not there: a
// missing row must never pass for an empty, inactive one.
func row(t testing.TB, got map[string]psaRow, azureID string) psaRow {
	t.Helper()
	r, ok := got[azureID]
	require.True(t, ok, "PSA user with Azure object id %s exists", azureID)
	return r
}

// truthUsers is the simulator's tenant users now (deleted ones left out).
func truthUsers(t *testing.T, s *testenv.Stack, tenantID string) []sim.TenantUser {
	t.Helper()
	for _, tn := range s.Sim.Snapshot().Tenants {
		if tn.ID == tenantID {
			return tn.Users
		}
	}
	t.Fatalf("tenant %s not in the simulator", tenantID)
	return nil
}

// syncUsers runs `cspsync sync --tenant T --wait` and returns its line.
func syncUsers(t *testing.T, s *testenv.Stack, tenantID string, args ...string) string {
	t.Helper()
	out, err := runCLI(t, s, append([]string{"sync", "--tenant", tenantID, "--wait", "--timeout", "2m"}, args...)...)
	require.NoError(t, err, out)
	return out
}

func TestUsersRoundImportsEveryUserAsMicrosoftHasThem(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 21, Tenants: 2, UsersPerTenant: 40})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.Worker.UserPageSize = 7 // several pages per round
	s.StartWorker()
	authorise(t, s, connectOpts{})
	tn := sc.Tenants[0]
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })

	out := syncUsers(t, s, tn.ID, "--full")
	assert.Contains(t, out, "full users round")
	got := psaUsers(t, s, tn.ID)
	truth := truthUsers(t, s, tn.ID)
	require.Len(t, got, len(truth))
	for _, u := range truth {
		assert.Equal(t, expected(u, "Main"), row(t, got, u.ID), "user %s", u.UserPrincipalName)
	}

	// status and the tenants page count each customer's users.
	active, all := 0, 0
	for _, other := range sc.Tenants {
		for _, u := range psaUsers(t, s, other.ID) {
			all++
			if u.Active {
				active++
			}
		}
	}
	out, err := runCLI(t, s, "status", "--json")
	require.NoError(t, err, out)
	var status []control.PartnerStatus
	require.NoError(t, json.Unmarshal([]byte(out), &status), out)
	require.Len(t, status, 1)
	assert.Equal(t, control.UserTotals{Active: active, All: all}, status[0].Users)
	hc, _ := operatorSession(t, s, sim.DefaultOperatorUPN)
	_, page := call(t, s, hc, http.MethodGet, "/tenants", nil, nil)
	mine := 0
	for _, u := range got {
		if u.Active {
			mine++
		}
	}
	assert.Contains(t, page, fmt.Sprintf("%d active of %d", mine, len(got)))

	// A delta round after changes in Microsoft brings exactly them.
	ch, err := s.Sim.ChangeUsers(tn.ID, sim.UserChanges{Seed: 3, Create: 2, Update: 3, Disable: 2, Delete: 2})
	require.NoError(t, err)
	out = syncUsers(t, s, tn.ID)
	assert.Contains(t, out, "delta users round")
	assert.Contains(t, out, fmt.Sprintf("%d created", 2))
	got = psaUsers(t, s, tn.ID)
	for _, u := range truthUsers(t, s, tn.ID) {
		assert.Equal(t, expected(u, "Main"), row(t, got, u.ID), "user %s", u.UserPrincipalName)
	}
	for _, id := range ch.Deleted {
		require.Contains(t, got, id, "a deleted user is kept")
		assert.False(t, row(t, got, id).Active, "a deleted user is inactive")
	}
	for _, id := range ch.Disabled {
		assert.False(t, row(t, got, id).Active, "a disabled user is inactive")
	}

	// An inactive user renamed in Microsoft stays inactive, with the same reason.
	reasonOf := func(azureID string) (string, bool) {
		cu, err := s.Store.GetCustomerByTenant(context.Background(), tn.ID)
		require.NoError(t, err)
		us, err := s.Store.ListUsers(context.Background(), cu.ID)
		require.NoError(t, err)
		for _, u := range us {
			if u.AzureObjectID == azureID {
				return u.InactiveReason, u.Active
			}
		}
		t.Fatalf("PSA user with Azure object id %s exists", azureID)
		return "", false
	}
	disabled := ch.Disabled[0]
	reason, isActive := reasonOf(disabled)
	require.False(t, isActive)
	require.Equal(t, "account disabled in Microsoft (accountEnabled false)", reason)
	renamed := "Renamed While Disabled"
	require.NoError(t, s.Sim.UpdateUser(tn.ID, disabled, sim.UserPatch{DisplayName: &renamed}))
	assert.Contains(t, syncUsers(t, s, tn.ID), "1 updated")
	assert.Equal(t, renamed, row(t, psaUsers(t, s, tn.ID), disabled).Name)
	after, isActive := reasonOf(disabled)
	assert.False(t, isActive, "still inactive")
	assert.Equal(t, reason, after, "the same reason")

	// The inbound log has a row per change processed.
	out, err = runCLI(t, s, "log", "--tenant", tn.ID, "--user", ch.Deleted[0])
	require.NoError(t, err, out)
	assert.Contains(t, out, "inactivated")
	assert.Contains(t, out, "removed in Microsoft")

	// Resetting one tenant's delta state leaves the other tenant's alone.
	other := sc.Tenants[1]
	syncUsers(t, s, other.ID) // its first round, if its own cycle has not run one yet
	cu, err := s.Store.GetCustomerByTenant(context.Background(), tn.ID)
	require.NoError(t, err)
	assert.Contains(t, mustCLI(t, s, "delta", "reset", "--partner", cu.PartnerID, "--tenant", tn.ID), "Reset the delta state of 1 tenants")
	assert.Contains(t, syncUsers(t, s, other.ID), "delta users round", "the other tenant goes on from its delta link")
	assert.Contains(t, syncUsers(t, s, tn.ID), "full users round")
}

// find returns the tenant's first user that fits.
func find(users []sim.TenantUser, fit func(sim.TenantUser) bool) sim.TenantUser {
	for _, u := range users {
		if fit(u) {
			return u
		}
	}
	return sim.TenantUser{}
}

func isService(u sim.TenantUser) bool { return strings.HasPrefix(u.UserPrincipalName, "svc-") }

func TestUsersMappingsMatchingAndAccountState(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 22, Tenants: 1, UsersPerTenant: 40})
	tn := sc.Tenants[0]
	s := testenv.NewStack(t, sc, sim.Options{})
	s.Worker.UserPageSize = 9
	ctx := context.Background()
	users := tn.Users
	person := func(fit func(sim.TenantUser) bool) sim.TenantUser {
		return find(users, func(u sim.TenantUser) bool {
			return !isService(u) && u.AccountEnabled && u.Mail != "" && u.UserType != "Guest" && fit(u)
		})
	}
	byEmail := person(func(u sim.TenantUser) bool { return u.Department != "Sales" })
	byName := person(func(u sim.TenantUser) bool { return u.ID != byEmail.ID && u.Department != "Sales" })
	twice := person(func(u sim.TenantUser) bool { return u.ID != byEmail.ID && u.ID != byName.ID })
	service := find(users, isService)
	require.NotEmpty(t, service.ID, "the generator gives every tenant service accounts")
	disabled := find(users, func(u sim.TenantUser) bool { return !u.AccountEnabled && !isService(u) })
	require.NotEmpty(t, disabled.ID)

	// The PSA knows the customer, and some of its people, before any sync.
	customer, err := testenv.CreateCustomer(ctx, s.Store, tn.Name)
	require.NoError(t, err)
	cid := strconv.FormatInt(customer, 10)
	manualEmail, err := s.Store.AddUser(ctx, customer, "Someone typed by hand", strings.ToUpper(byEmail.Mail), "")
	require.NoError(t, err)
	manualName, err := s.Store.AddUser(ctx, customer, "  "+strings.ToLower(byName.DisplayName), "", "")
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		_, err = s.Store.AddUser(ctx, customer, fmt.Sprintf("Duplicate %d", i), twice.Mail, "")
		require.NoError(t, err)
	}

	// The partner's settings and the customer's mappings, set before its first round.
	s.StartWorker()
	link := connect(t, s, connectOpts{partner: "acme"})
	mustCLI(t, s, "mappings", "settings", "--partner", "acme", "--match-rules", "email,name")
	mustCLI(t, s, "sites", "add", "--customer", cid, "Sales")
	_, err = runCLI(t, s, "mappings", "set-sites", "--customer", cid, `user.departmnet == "Sales" => Sales`)
	require.Error(t, err, "an unknown property is refused when saved")
	assert.Contains(t, err.Error(), "department", "the fix names the property meant")
	out, err := runCLI(t, s, "mappings", "set-sites", "--customer", cid, `user.department == "Sales" => Nowhere`)
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "sites add")
	mustCLI(t, s, "mappings", "set-sites", "--customer", cid,
		`user.department == "Sales" => Sales`, `!user.userPrincipalName.startsWith("svc-") => Main`)
	_, err = runCLI(t, s, "mappings", "set-field", "--partner", "acme", "custom.cost_centre", "user.employeeIdd")
	require.Error(t, err, "an unknown property is refused")
	_, err = runCLI(t, s, "mappings", "set-field", "--partner", "acme", "cost_centre", "user.employeeId")
	require.Error(t, err, "an unknown PSA field is refused")
	mustCLI(t, s, "mappings", "set-field", "--partner", "acme", "--customer", cid, "phone", "user.mobilePhone")
	_, err = runCLI(t, s, "mappings", "set-field", "--partner", "acme", "email", "")
	assert.NoError(t, err, "an empty partner mapping falls back to the default, so email matching still has its mapping")

	status, page, _ := signIn(t, s, link)
	require.Equal(t, 200, status, page)
	waitPartner(t, s, "acme", time.Minute, func(st workflows.PartnerState) bool { return st.Discoveries > 0 })
	tenantID := tn.ID
	syncUsers(t, s, tenantID)

	want := func(u sim.TenantUser) psaRow {
		site := "Main"
		if u.Department == "Sales" {
			site = "Sales"
		}
		r := expected(u, site)
		r.Phone = u.MobilePhone // the customer's own phone mapping
		return r
	}
	got := psaUsers(t, s, tenantID)
	for _, u := range truthUsers(t, s, tenantID) {
		switch {
		case isService(u):
			assert.NotContains(t, got, u.ID, "%s: a service account no mapping places is not imported", u.UserPrincipalName)
		case u.ID == twice.ID:
			assert.NotContains(t, got, u.ID, "two PSA users fit: nothing is created")
		default:
			assert.Equal(t, want(u), row(t, got, u.ID), u.UserPrincipalName)
		}
	}
	all, err := s.Store.ListUsers(ctx, customer)
	require.NoError(t, err)
	ids := map[int64]string{}
	for _, u := range all {
		ids[u.ID] = u.AzureObjectID
	}
	assert.Equal(t, byEmail.ID, ids[manualEmail], "matched by email: the hand-made user is kept and linked")
	assert.Equal(t, byName.ID, ids[manualName], "matched by name")
	assert.False(t, row(t, got, disabled.ID).Active, "a disabled account is an inactive user")
	out = mustCLI(t, s, "log", "--tenant", tenantID, "--user", twice.ID)
	assert.Contains(t, out, "ambiguous")
	out = mustCLI(t, s, "log", "--tenant", tenantID, "--user", byEmail.ID)
	assert.Contains(t, out, "email")

	// ignore accountEnabled keeps disabled accounts active.
	mustCLI(t, s, "mappings", "settings", "--partner", "acme", "--ignore-account-enabled")
	syncUsers(t, s, tenantID, "--full")
	assert.True(t, row(t, psaUsers(t, s, tenantID), disabled.ID).Active)
	mustCLI(t, s, "mappings", "settings", "--partner", "acme", "--ignore-account-enabled=false")

	// Delta rounds: filters keep excluding, moves, stops matching, deletion and return. Graph
	// sends an updated user with only his changed properties, which the round reads again in
	// full: a Sales user whose job title changes stays in Sales with every other field. A round
	// without changes first gives the Graph requests a round costs besides its users.
	stats := s.Sim.Stats()
	syncUsers(t, s, tenantID)
	after := s.Sim.Stats()
	overhead := after.GraphRequestsByTenant[tenantID] - stats.GraphRequestsByTenant[tenantID] -
		(after.DeltaRequestsByTenant[tenantID] - stats.DeltaRequestsByTenant[tenantID])
	seller := person(func(u sim.TenantUser) bool {
		return u.Department == "Sales" && u.ID != byName.ID && u.ID != twice.ID && u.MobilePhone != ""
	})
	require.NotEmpty(t, seller.ID)
	require.Equal(t, "Sales", row(t, psaUsers(t, s, tenantID), seller.ID).Site)
	promoted := "Head of Sales"
	require.NoError(t, s.Sim.UpdateUser(tenantID, seller.ID, sim.UserPatch{JobTitle: &promoted}))
	job := "Night operator"
	require.NoError(t, s.Sim.UpdateUser(tenantID, service.ID, sim.UserPatch{JobTitle: &job}))
	sales := "Sales"
	require.NoError(t, s.Sim.UpdateUser(tenantID, byName.ID, sim.UserPatch{Department: &sales}))
	svcUPN := "svc-renamed@" + tn.Domain
	require.NoError(t, s.Sim.UpdateUser(tenantID, byEmail.ID, sim.UserPatch{UserPrincipalName: &svcUPN}))
	deleted := person(func(u sim.TenantUser) bool { return u.ID != byEmail.ID && u.ID != byName.ID && u.ID != twice.ID })
	require.NoError(t, s.Sim.DeleteUser(tenantID, deleted.ID))
	stats = s.Sim.Stats()
	out = syncUsers(t, s, tenantID)
	assert.Contains(t, out, "delta users round")
	after = s.Sim.Stats()
	reread := after.GraphRequestsByTenant[tenantID] - stats.GraphRequestsByTenant[tenantID] - overhead -
		(after.DeltaRequestsByTenant[tenantID] - stats.DeltaRequestsByTenant[tenantID])
	assert.Equal(t, 1, reread, "four users sent in part, read again in one request")
	got = psaUsers(t, s, tenantID)
	seller.JobTitle = promoted
	assert.Equal(t, want(seller), row(t, got, seller.ID), "his new job title, his site and every other field")
	assert.NotContains(t, got, service.ID, "still excluded after his fields changed")
	assert.Equal(t, "Sales", row(t, got, byName.ID).Site, "moved to the site his new department maps to")
	assert.False(t, row(t, got, byEmail.ID).Active, "no mapping matches him any more")
	assert.False(t, row(t, got, deleted.ID).Active, "deleted in Microsoft: inactive, not deleted")
	out = mustCLI(t, s, "log", "--tenant", tenantID, "--user", byEmail.ID)
	assert.Contains(t, out, "no site mapping matches")

	require.NoError(t, s.Sim.RestoreUser(tenantID, deleted.ID))
	syncUsers(t, s, tenantID)
	assert.True(t, row(t, psaUsers(t, s, tenantID), deleted.ID).Active, "reactivated when he comes back")
	out = mustCLI(t, s, "log", "--tenant", tenantID, "--user", deleted.ID)
	assert.Contains(t, out, "reactivated")

	// A reset delta state, and an expired one, both read everyone again; a
	// user gone for good is inactive after the full round.
	out = mustCLI(t, s, "delta", "reset", "--partner", "acme", "--tenant", tenantID)
	assert.Contains(t, out, "Reset the delta state of 1 tenants")
	assert.Contains(t, syncUsers(t, s, tenantID), "full users round")
	gone := person(func(u sim.TenantUser) bool {
		return u.ID != deleted.ID && u.ID != byEmail.ID && u.Department != "Sales" && u.ID != twice.ID
	})
	require.NoError(t, s.Sim.PurgeUser(tenantID, gone.ID))
	require.NoError(t, s.Sim.ExpireDeltaTokens(tenantID))
	assert.Contains(t, syncUsers(t, s, tenantID), "full users round")
	got = psaUsers(t, s, tenantID)
	assert.False(t, row(t, got, gone.ID).Active)
	for _, u := range truthUsers(t, s, tenantID) {
		if !isService(u) && u.ID != twice.ID && u.ID != byEmail.ID {
			assert.Equal(t, want(u), row(t, got, u.ID), u.UserPrincipalName)
		}
	}

	// Without site mappings nothing is imported, so removing them all takes
	// --clear; generated mappings fix that.
	_, clearErr := runCLI(t, s, "mappings", "set-sites", "--customer", cid)
	require.ErrorContains(t, clearErr, "--clear")
	assert.Contains(t, mustCLI(t, s, "mappings", "set-sites", "--customer", cid, "--clear"), "active users from Microsoft inactive")
	assert.Contains(t, mustCLI(t, s, "mappings", "generate", "--partner", "acme"), "Created 1 site mappings")
	out = mustCLI(t, s, "mappings", "sites", "--customer", cid)
	assert.Contains(t, out, "Main")
}

func mustCLI(t *testing.T, s *testenv.Stack, args ...string) string {
	t.Helper()
	out, err := runCLI(t, s, args...)
	require.NoError(t, err, out)
	return out
}

// assertUsersEqualTruth compares every tenant's PSA users with what the
// default mappings make of the simulator's users (one unfiltered site
// mapping), and checks that no user was created twice.
func assertUsersEqualTruth(t *testing.T, s *testenv.Stack, tenants []sim.Tenant) {
	t.Helper()
	for _, tn := range tenants {
		got := psaUsers(t, s, tn.ID)
		truth := truthUsers(t, s, tn.ID)
		for _, u := range truth {
			if !assert.Equal(t, expected(u, "Main"), row(t, got, u.ID), "tenant %s user %s", tn.Name, u.UserPrincipalName) {
				return
			}
			delete(got, u.ID)
		}
		for id, u := range got {
			assert.False(t, u.Active, "tenant %s: user %s is no longer in Microsoft, so inactive", tn.Name, id)
		}
	}
	var twice int
	require.NoError(t, s.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM (SELECT azure_object_id FROM inbound_log
		WHERE result = 'created' GROUP BY azure_object_id HAVING count(*) > 1) d`).Scan(&twice))
	assert.Zero(t, twice, "no user created twice")
}

// finishedRounds counts the customers whose first users round has finished.
func finishedRounds(t testing.TB, s *testenv.Stack) int {
	t.Helper()
	var n int
	require.NoError(t, s.Store.Pool().QueryRow(context.Background(),
		`SELECT count(DISTINCT customer_id) FROM user_rounds WHERE finished_at IS NOT NULL`).Scan(&n))
	return n
}

func TestWorkerKilledMidRoundOf20000UsersResumesAtTheNextPage(t *testing.T) {
	bin := buildWorker(t)
	sc := sim.Generate(sim.GenerateOptions{Seed: 20000, Tenants: 1, UsersPerTenant: 20000})
	s := testenv.NewStack(t, sc, sim.Options{})
	ctx := context.Background()
	worker := startWorkerProcess(t, s, bin)
	status, page, _ := signIn(t, s, connect(t, s, connectOpts{partner: "acme"}))
	require.Equal(t, 200, status, page)

	// Kill the worker a fifth of the way through the first round.
	var pages int
	require.Eventually(t, func() bool {
		err := s.Store.Pool().QueryRow(ctx, `SELECT coalesce(max(pages), 0) FROM user_rounds WHERE finished_at IS NULL`).Scan(&pages)
		return err == nil && pages >= 20
	}, 3*time.Minute, 5*time.Millisecond)
	require.NoError(t, worker.Process.Kill())
	_, _ = worker.Process.Wait()
	before := s.Sim.Stats().DeltaRequestsByTenant[sc.Tenants[0].ID]

	startWorkerProcess(t, s, bin)
	require.Eventually(t, func() bool { return finishedRounds(t, s) == 1 }, 5*time.Minute, 100*time.Millisecond)
	assertUsersEqualTruth(t, s, sc.Tenants)

	var r struct{ pages, users int }
	require.NoError(t, s.Store.Pool().QueryRow(ctx, `SELECT pages, users FROM user_rounds`).Scan(&r.pages, &r.users))
	assert.Equal(t, 100, r.pages, "20,000 users in pages of 200")
	assert.Equal(t, 20000, r.users)
	// The resumed attempt read the pages not yet committed, and at most the
	// one in flight when the worker died again.
	after := s.Sim.Stats().DeltaRequestsByTenant[sc.Tenants[0].ID] - before
	assert.LessOrEqual(t, after, r.pages-pages+1, "delta pages read after the crash: %d for %d uncommitted pages", after, r.pages-pages)
	t.Logf("killed at %d of %d pages; %d delta pages read after the restart", pages, r.pages, after)
}

func TestTwoWorkersShareA50TenantRound(t *testing.T) {
	bin := buildWorker(t)
	sc := sim.Generate(sim.GenerateOptions{Seed: 50, Tenants: 50, UsersPerTenant: 60})
	s := testenv.NewStack(t, sc, sim.Options{})
	first := startWorkerProcess(t, s, bin)
	second := *s
	second.Worker.HTTPAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	other := startWorkerProcess(t, &second, bin)
	status, page, _ := signIn(t, s, connect(t, s, connectOpts{partner: "acme"}))
	require.Equal(t, 200, status, page)
	require.Eventually(t, func() bool { return finishedRounds(t, s) == 50 }, 5*time.Minute, 100*time.Millisecond)
	assertUsersEqualTruth(t, s, sc.Tenants)

	// Both processes ran users rounds.
	workers := map[string]int{}
	for _, tn := range sc.Tenants {
		for _, id := range roundWorkers(t, s, tn.ID) {
			workers[id]++
		}
	}
	assert.Len(t, workers, 2, "rounds by worker: %v", workers)
	for _, p := range []int{first.Process.Pid, other.Process.Pid} {
		found := false
		for id := range workers {
			found = found || strings.HasPrefix(id, strconv.Itoa(p)+"@")
		}
		assert.True(t, found, "worker %d ran no round: %v", p, workers)
	}
}

// roundWorkers lists the identities of the workers that ran a tenant's
// users rounds, from its workflow histories.
func roundWorkers(t *testing.T, s *testenv.Stack, tenantID string) []string {
	t.Helper()
	ctx := context.Background()
	resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", workflows.TenantWorkflowID("acme", tenantID))})
	require.NoError(t, err)
	var ids []string
	for _, ex := range resp.Executions {
		iter := s.Client.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		rounds := map[int64]bool{}
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(t, err)
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.ActivityType.GetName() == "SyncUsers" {
				rounds[ev.EventId] = true
			}
			if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && rounds[a.ScheduledEventId] {
				ids = append(ids, a.Identity)
			}
		}
	}
	return ids
}
