package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/usersync"
)

type benchRow struct {
	scenario, round string
	users, pages    int
	took, floor     time.Duration
	samples         []time.Duration // the took of each round a median was kept from
	// summed over the tenants' rounds: their durations and where the time went
	roundsTook, microsoft, decide, write time.Duration
	graphRequests, deltaRequests, writes int
	// users Graph sent in part, read again by id: requests and users
	rereadRequests, rereadUsers int
	groupRequests               int // groups found by name and groups/delta pages
	serviceUsers, psaUsers      int // after a round with the service-user rules
	// CPU the stack's processes spent during the round (worker, the database's PostgreSQL
	// backends, Temporal, the test process with the simulator): unlike wall time, what
	// other work on a shared machine barely changes.
	cpu     stackCPU
	peakRSS int64 // bytes
	events  []int // history events of the runs that held a users round, per user count
}

// graphCounts reads the simulator's Graph requests: all, users/delta pages,
// and the re-reads of users by id (requests and users).
type graphCount struct{ all, delta, rereadRequests, rereadUsers, groups int }

func graphCounts(s *testenv.Stack) graphCount {
	st := s.Sim.Stats()
	c := graphCount{all: st.GraphRequests, rereadRequests: st.UsersByIDRequests, rereadUsers: st.UsersReadByID, groups: st.GroupRequests}
	for _, n := range st.DeltaRequestsByTenant {
		c.delta += n
	}
	return c
}

// since fills r's request counts with what happened after before.
func (r *benchRow) since(s *testenv.Stack, before graphCount) {
	now := graphCounts(s)
	r.graphRequests, r.deltaRequests = now.all-before.all, now.delta-before.delta
	r.rereadRequests, r.rereadUsers = now.rereadRequests-before.rereadRequests, now.rereadUsers-before.rereadUsers
	r.groupRequests = now.groups - before.groups
}

func benchUsers(b *testing.B, bin, name string, tenants, users int) []benchRow {
	sc := sim.Generate(sim.GenerateOptions{Seed: int64(tenants), Tenants: tenants, UsersPerTenant: users})
	s := testenv.NewStack(b, sc, sim.Options{})
	worker := startWorkerProcess(b, s, bin)
	status, page, _ := signIn(b, s, connect(b, s, connectOpts{partner: "acme", tenantSyncInterval: 24 * time.Hour}))
	require.Equal(b, http.StatusOK, status, page)

	// Each tenant's first cycle, right after discovery, is its full round,
	// followed by the daily sign-in pass (list users, 120 a page).
	before := graphCounts(s)
	require.Eventually(b, func() bool { return finishedRounds(b, s) == tenants && settled(b, s) == tenants },
		20*time.Minute, 200*time.Millisecond)
	full := measureRounds(b, s, "full")
	full.since(s, before)
	full.scenario, full.round = name, "full"

	// 1 % of every tenant's users change; a delta round brings them, with
	// Graph answering as cspsync asks (its default mode), then again with
	// Graph answering minimally (Prefer: return=minimal), for the re-reads.
	var rows []benchRow
	for round, mode := range []string{sim.DeltaAsRequested, sim.DeltaMinimal} {
		require.NoError(b, s.Sim.SetDeltaResponses(mode))
		for i, tn := range sc.Tenants {
			n := max(users/100, 1)
			_, err := s.Sim.ChangeUsers(tn.ID, sim.UserChanges{Seed: int64(100*round + i + 7), Create: n / 4, Update: n / 2, Disable: n / 8, Delete: n - n/4 - n/2 - n/8})
			require.NoError(b, err)
		}
		before = graphCounts(s)
		out, err := runCLI(b, s, "sync", "--partner", "acme", "--users", "--wait", "--timeout", "20m")
		require.NoError(b, err, out)
		dr := measureRounds(b, s, "delta")
		dr.since(s, before)
		dr.scenario, dr.round = name, "delta (1 %)"
		if mode == sim.DeltaMinimal {
			dr.round = "delta, minimal"
		}
		rows = append(rows, dr)
	}
	full.peakRSS = peakRSS(b, worker.Process.Pid)
	for i := range rows {
		rows[i].peakRSS = full.peakRSS
	}
	full.events = roundEvents(b, s)
	full.floor = floor(b, s, sc.Tenants)
	return append([]benchRow{full}, rows...)
}

// settled counts the tenants whose cycle has ended (sign-in pass included).
func settled(b testing.TB, s *testenv.Stack) int {
	cs, err := s.Store.ListCustomers(context.Background(), "acme")
	require.NoError(b, err)
	n := 0
	for _, c := range cs {
		if c.TenantID != "" && c.SyncState.Settled() {
			n++
		}
	}
	return n
}

// measureRounds sums the newest rounds of a kind: users, pages, rows
// written, and the span from the first start to the last finish.
func measureRounds(b *testing.B, s *testenv.Stack, kind string) benchRow {
	var r benchRow
	var first, last time.Time
	require.NoError(b, s.Store.Pool().QueryRow(context.Background(), `
		WITH newest AS (SELECT DISTINCT ON (customer_id) * FROM user_rounds WHERE kind = $1 AND finished_at IS NOT NULL
			ORDER BY customer_id, id DESC)
		SELECT sum(users), sum(pages), min(started_at), max(finished_at),
			sum(created + updated + moved + inactivated + reactivated)
				+ (SELECT count(*) FROM inbound_log l WHERE l.round_id IN (SELECT id FROM newest)),
			sum(finished_at - started_at), sum(microsoft_time), sum(decide_time), sum(write_time)
		FROM newest`, kind).Scan(&r.users, &r.pages, &first, &last, &r.writes, &r.roundsTook, &r.microsoft, &r.decide, &r.write))
	r.took = last.Sub(first)
	return r
}

// peakRSS reads the worker's high-water resident set size.
func peakRSS(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	require.NoError(b, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(b, err)
			return kb * 1024
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}

// roundEvents lists the history length of every tenant run that held a
// users round.
func roundEvents(b *testing.B, s *testenv.Stack) []int {
	ctx := context.Background()
	var out []int
	var token []byte
	for {
		resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: "WorkflowType = 'TenantWorkflow' AND ExecutionStatus = 'ContinuedAsNew'", NextPageToken: token})
		require.NoError(b, err)
		for _, ex := range resp.Executions {
			iter := s.Client.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			n, round := 0, false
			for iter.HasNext() {
				ev, err := iter.Next()
				require.NoError(b, err)
				n++
				if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.ActivityType.GetName() == "SyncUsers" {
					round = true
				}
			}
			if round {
				out = append(out, n)
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return out
		}
	}
}

// floor fetches every tenant's users/delta pages with plain HTTP (the
// same $select and page size as cspsync) and writes them with one COPY
// per tenant: the least a round can cost on these parts.
func floor(b *testing.B, s *testenv.Stack, tenants []sim.Tenant) time.Duration {
	ctx := context.Background()
	creds, err := s.Store.Credentials(ctx, "acme")
	require.NoError(b, err)
	auth := &microsoft.Auth{HTTP: s.HTTP, Cache: s.Store}
	plan, err := usersync.NewPlan(usersync.Config{Mappings: usersync.DefaultMappings()})
	require.NoError(b, err)
	selectProps := plan.Select(usersync.Delta)
	conn, err := pgx.Connect(ctx, s.Worker.DatabaseURL)
	require.NoError(b, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE floor_users (id uuid, name text, mail text, upn text, job text, department text, enabled boolean)`)
	require.NoError(b, err)
	start := time.Now()
	for _, tn := range tenants {
		token, err := auth.GraphAppToken(ctx, creds, tn.ID)
		require.NoError(b, err)
		link := creds.GraphURL + "/v1.0/users/delta?$select=" + url.QueryEscape(strings.Join(selectProps, ","))
		var rows [][]any
		for link != "" {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
			require.NoError(b, err)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Prefer", "odata.maxpagesize=200")
			resp, err := s.HTTP.Do(req)
			require.NoError(b, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(b, err)
			require.Equal(b, http.StatusOK, resp.StatusCode, string(body))
			var page struct {
				Value []struct {
					ID, DisplayName, Mail, UserPrincipalName, JobTitle, Department string
					AccountEnabled                                                 bool
				} `json:"value"`
				Next string `json:"@odata.nextLink"`
			}
			require.NoError(b, json.Unmarshal(body, &page))
			for _, u := range page.Value {
				rows = append(rows, []any{u.ID, u.DisplayName, u.Mail, u.UserPrincipalName, u.JobTitle, u.Department, u.AccountEnabled})
			}
			link = page.Next
		}
		_, err = conn.CopyFrom(ctx, pgx.Identifier{"floor_users"}, []string{"id", "name", "mail", "upn", "job", "department", "enabled"}, pgx.CopyFromRows(rows))
		require.NoError(b, err)
	}
	return time.Since(start)
}

// benchRules measures what the service-user rules cost a users round (issue 16: at most 10 %
// more time, Graph requests = pages + groups pages + constant): on the same stack, a full
// round without rules, the same full round with the partner's service group ("All Staff",
// which every generated tenant has, its membership read in full) and a billable-SKU list,
// then a delta round with 1 % of users changed and 1 % of memberships changed.
func benchRules(b *testing.B, bin, name string, tenants, users int) []benchRow {
	sc := sim.Generate(sim.GenerateOptions{Seed: int64(tenants) + 16, Tenants: tenants, UsersPerTenant: users})
	s := testenv.NewStack(b, sc, sim.Options{})
	worker := startWorkerProcess(b, s, bin)
	status, page, _ := signIn(b, s, connect(b, s, connectOpts{partner: "acme", tenantSyncInterval: 24 * time.Hour}))
	require.Equal(b, http.StatusOK, status, page)
	require.Eventually(b, func() bool { return finishedRounds(b, s) == tenants && settled(b, s) == tenants },
		20*time.Minute, 200*time.Millisecond)
	round := func(label string, args ...string) benchRow {
		before := graphCounts(s)
		cpu := startCPU(b, s, worker.Process.Pid)
		start := time.Now()
		out, err := runCLI(b, s, append([]string{"sync", "--partner", "acme", "--users", "--wait", "--timeout", "20m"}, args...)...)
		require.NoError(b, err, out)
		kind := "delta"
		if slices.Contains(args, "--full") {
			kind = "full"
		}
		r := measureRounds(b, s, kind)
		r.cpu = cpu()
		r.since(s, before)
		r.scenario, r.round = name, label
		if r.took <= 0 {
			r.took = time.Since(start)
		}
		return r
	}
	// One round's time varies by about a tenth from one to the next on this machine, so the
	// rounds compared run several times and their medians are compared: without rules three
	// times before the rules are turned on and three times after they are turned off again
	// (rounds soon after the import run slower than later ones), with the rules five times.
	// Each set starts on a settled database: the rounds that turn the rules on and off
	// rewrite a fifth of the users, and autovacuum cleaning up after them belongs to them,
	// not to the rounds that follow.
	repeat := func(n int, label string) []benchRow {
		_, err := s.Store.Pool().Exec(context.Background(), `VACUUM (ANALYZE)`)
		require.NoError(b, err)
		var rows []benchRow
		for range n {
			rows = append(rows, round(label, "--full"))
		}
		return rows
	}
	// median keeps the round of median time, with every round's time as its samples.
	median := func(rows []benchRow) benchRow {
		slices.SortFunc(rows, func(a, b benchRow) int { return cmp.Compare(a.took, b.took) })
		m := rows[(len(rows)-1)/2]
		m.samples = nil
		for _, r := range rows {
			m.samples = append(m.samples, r.took)
		}
		return m
	}
	round("warm-up", "--full") // the import's rows are read back once, as every later round does
	plain := repeat(3, "full, no rules")
	// The billable-SKU list a partner keeps: the plans it bills its users for, here each
	// tenant's base plan (the SKU most of its users hold). One tenant's plan alone would
	// leave every user of the tenants on another plan unbillable: a round that changes
	// every user, which is not what the rules cost.
	var skus []string
	for _, tn := range sc.Tenants {
		count := map[string]int{}
		for _, u := range tn.Users {
			for _, id := range u.AssignedSkuIDs {
				count[strings.ToLower(id)]++
			}
		}
		sku := ""
		for id, n := range count {
			if sku == "" || n > count[sku] || n == count[sku] && id < sku {
				sku = id
			}
		}
		if sku != "" && !slices.Contains(skus, sku) {
			skus = append(skus, sku)
		}
	}
	slices.Sort(skus)
	out, err := runCLI(b, s, "mappings", "settings", "--partner", "acme", "--service-group", "All Staff", "--billable-skus", strings.Join(skus, ","))
	require.NoError(b, err, out)
	// The first round with the rules turns them on: it reads every service group's membership
	// in full and changes the users they make service users. The rounds after it are what
	// the rules cost a round for as long as they are set.
	first := round("full, service group and billable SKUs turned on", "--full")
	require.NoError(b, s.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE service_user), count(*) FROM psa_users`).
		Scan(&first.serviceUsers, &first.psaUsers))
	require.Positive(b, first.serviceUsers, "the rules made service users")
	rules := median(repeat(5, "full, service group and billable SKUs in force"))
	rules.serviceUsers, rules.psaUsers = first.serviceUsers, first.psaUsers

	// 1 % of users change and 1 % of memberships: users taken out of All Staff.
	for i, tn := range sc.Tenants {
		n := max(users/100, 1)
		_, err := s.Sim.ChangeUsers(tn.ID, sim.UserChanges{Seed: int64(i + 31), Update: n})
		require.NoError(b, err)
		all := ""
		for _, g := range tn.Groups {
			if g.DisplayName == "All Staff" {
				all = g.ID
			}
		}
		taken := 0
		for _, u := range tn.Users {
			if taken < n && slices.Contains(u.MemberOf, all) {
				require.NoError(b, s.Sim.RemoveGroupMember(tn.ID, all, u.ID))
				taken++
			}
		}
	}
	delta := round("delta (1 % users, 1 % memberships), service group and billable SKUs")

	out, err = runCLI(b, s, "mappings", "settings", "--partner", "acme", "--service-group", "", "--billable-skus", "")
	require.NoError(b, err, out)
	round("full, rules turned off", "--full")
	return []benchRow{median(append(plain, repeat(3, "full, no rules")...)), first, rules, delta}
}

// stackCPU is the CPU time the stack's processes spent, by process.
type stackCPU struct {
	worker, postgres, temporal, sim time.Duration // sim: the bench's own process, which runs the simulator
}

func (c stackCPU) total() time.Duration { return c.worker + c.postgres + c.temporal + c.sim }

// startCPU samples the CPU time of the stack's processes and returns a function that tells
// how much they spent since. PostgreSQL's backends are those of the stack's database; one
// that connected meanwhile counts in full, one that left is lost (the pools keep theirs).
func startCPU(b *testing.B, s *testenv.Stack, workerPid int) func() stackCPU {
	pids := func() []int {
		out := []int{os.Getpid(), workerPid}
		if s.Temporal != nil {
			out = append(out, s.Temporal.Pid())
		}
		rows, err := s.Store.Pool().Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
		require.NoError(b, err)
		backends, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		require.NoError(b, err)
		for _, p := range backends {
			out = append(out, int(p))
		}
		return out
	}
	before := map[int]time.Duration{}
	for _, p := range pids() {
		before[p] = cpuOf(p)
	}
	return func() stackCPU {
		var c stackCPU
		for _, p := range pids() {
			d := cpuOf(p) - before[p]
			switch {
			case p == os.Getpid():
				c.sim += d
			case p == workerPid:
				c.worker += d
			case s.Temporal != nil && p == s.Temporal.Pid():
				c.temporal += d
			default:
				c.postgres += d
			}
		}
		return c
	}
}

// cpuOf reads a process's user and system CPU time from /proc (0 when it is gone).
func cpuOf(pid int) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
