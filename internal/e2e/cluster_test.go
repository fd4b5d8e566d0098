//go:build cluster

// The production topology end to end: cspsync on a private Temporal cluster
// (temporal-server on PostgreSQL with SQL visibility, testenv.StartCluster,
// configured by the file docker-compose.yml mounts) with the work shared by
// two worker processes of the real binary on one task queue. `make
// test-cluster` runs these; plain `go test ./...` leaves them out.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// A round is one kind of work the scenarios run across every tenant,
// interrupt with a fault and compare with a clean run and the simulator.
type round struct {
	name string
	// change moves the simulator's truth, so the round has work in every tenant.
	change func(t *testing.T, s *testenv.Stack)
	// run asks every tenant for the round and waits for it, as an operator does.
	run func(t testing.TB, s *testenv.Stack) (string, error)
	// done counts the tenants whose round finished after since (zero: ever).
	done func(t *testing.T, s *testenv.Stack, since time.Time) int
	// check asserts the round's tables equal the simulator's truth.
	check func(t *testing.T, s *testenv.Stack)
	// tables are the round's rows without ids or times, comparable across runs.
	tables func(t *testing.T, s *testenv.Stack) []string
}

// clusterRounds run in this order in every scenario, each interrupted by
// the scenario's fault; a tenant's cycle runs them in the same order.
var clusterRounds = []round{licenceRound, usersRound}

// measuredRound is the round timed on one and on two workers.
var measuredRound = usersFullRound

var licenceRound = round{
	name: "licences",
	change: func(t *testing.T, s *testenv.Stack) {
		for _, tn := range s.Scenario.Tenants {
			_, subs, err := s.Sim.LicenceTruth(tn.ID)
			require.NoError(t, err)
			i := slices.IndexFunc(subs, func(sub sim.Subscription) bool { return sub.Status == sim.SubscriptionActive })
			require.GreaterOrEqual(t, i, 0, "tenant %s has an active subscription", tn.Name)
			_, err = s.Sim.SetSubscriptionQuantity(tn.ID, subs[i].ID, subs[i].Quantity+3)
			require.NoError(t, err)
		}
	},
	run: func(t testing.TB, s *testenv.Stack) (string, error) {
		return runCLI(t, s, "licences", "import", "--partner", "acme", "--wait", "--timeout", "5m")
	},
	done: func(t *testing.T, s *testenv.Stack, since time.Time) int {
		var n int
		require.NoError(t, s.Store.Pool().QueryRow(context.Background(),
			`SELECT count(*) FROM customers WHERE licences_at > $1`, since).Scan(&n))
		return n
	},
	check: func(t *testing.T, s *testenv.Stack) { assertLicencesEqualTruth(t, s, true) },
	tables: func(t *testing.T, s *testenv.Stack) []string {
		return rows(t, s,
			`SELECT c.azure_tenant_id, l.sku_id, l.part_number, l.product_name, l.total_units, l.active_units,
				l.consumed_units, l.suspended_units, l.warning_units, l.capability_status, l.ended_at IS NULL
			FROM licences l JOIN customers c ON c.id = l.customer_id`,
			`SELECT c.azure_tenant_id, s.subscription_id, s.sku_id, s.offer_id, s.quantity, s.status,
				s.billing_cycle, s.term_duration, s.auto_renew, s.is_trial, s.ended_at IS NULL
			FROM licence_subscriptions s JOIN customers c ON c.id = s.customer_id`,
			// Every event, duplicates included: a repeated import must not add any.
			`SELECT c.azure_tenant_id, e.sku_id, e.subscription_id, e.field, e.old_value, e.new_value
			FROM licence_events e JOIN customers c ON c.id = e.customer_id`)
	},
}

var usersRound = round{
	name: "users",
	change: func(t *testing.T, s *testenv.Stack) {
		for i, tn := range s.Scenario.Tenants {
			_, err := s.Sim.ChangeUsers(tn.ID, sim.UserChanges{Seed: int64(i + 1), Create: 1, Update: 2, Disable: 1, Delete: 1})
			require.NoError(t, err)
		}
	},
	run: func(t testing.TB, s *testenv.Stack) (string, error) {
		return runCLI(t, s, "sync", "--partner", "acme", "--users", "--wait", "--timeout", "5m")
	},
	done: func(t *testing.T, s *testenv.Stack, since time.Time) int {
		var n int
		require.NoError(t, s.Store.Pool().QueryRow(context.Background(),
			`SELECT count(DISTINCT customer_id) FROM user_rounds WHERE finished_at > $1`, since).Scan(&n))
		return n
	},
	check: func(t *testing.T, s *testenv.Stack) { assertUsersEqualTruth(t, s, s.Scenario.Tenants) },
	tables: func(t *testing.T, s *testenv.Stack) []string {
		return rows(t, s,
			`SELECT c.azure_tenant_id, u.azure_object_id, st.name, u.name, u.email, u.network_login, u.phone, u.mobile,
				u.job_title, u.department, u.active, u.inactive_reason, u.source
			FROM psa_users u JOIN customers c ON c.id = u.customer_id JOIN sites st ON st.id = u.site_id`,
			`SELECT c.azure_tenant_id, l.azure_object_id, l.mapping, l.match_rule, l.result, l.changes, l.reason
			FROM inbound_log l JOIN customers c ON c.id = l.customer_id`)
	},
}

// usersFullRound reads every user of every tenant again: the heaviest
// round, the one worth timing.
var usersFullRound = func() round {
	r := usersRound
	r.name = "full users"
	r.run = func(t testing.TB, s *testenv.Stack) (string, error) {
		return runCLI(t, s, "sync", "--partner", "acme", "--users", "--full", "--wait", "--timeout", "10m")
	}
	return r
}()

// rows runs queries and returns their rows as text, sorted.
func rows(t *testing.T, s *testenv.Stack, queries ...string) []string {
	t.Helper()
	var out []string
	for _, q := range queries {
		rs, err := s.Store.Pool().Query(context.Background(), q)
		require.NoError(t, err)
		for rs.Next() {
			vals, err := rs.Values()
			require.NoError(t, err)
			out = append(out, fmt.Sprint(vals...))
		}
		require.NoError(t, rs.Err())
	}
	sort.Strings(out)
	return out
}

// roundTenants is the size of the fault scenarios: enough tenants for a
// round to be caught midway.
const roundTenants = 100

// fault interrupts a round midway; recover gives the next round the same
// topology again.
type fault struct {
	inject  func(t *testing.T, s *testenv.Stack, w *workers)
	recover func(t *testing.T, s *testenv.Stack, w *workers)
}

func TestClusterRoundsEqualACleanRunAfterAWorkerKilledAndATemporalRestart(t *testing.T) {
	bin := buildWorker(t)
	faults := []struct {
		name string
		f    *fault
	}{
		{"clean", nil},
		{"worker SIGKILLed", &fault{
			inject:  func(t *testing.T, s *testenv.Stack, w *workers) { w.kill(t, 0) },
			recover: func(t *testing.T, s *testenv.Stack, w *workers) { w.start(t, 0) },
		}},
		{"temporal-server restarted", &fault{
			inject:  func(t *testing.T, s *testenv.Stack, w *workers) { s.Cluster.Restart() },
			recover: func(*testing.T, *testenv.Stack, *workers) {},
		}},
	}
	var clean map[string][]string
	for _, tc := range faults {
		t.Run(tc.name, func(t *testing.T) {
			tables := runRounds(t, bin, tc.f)
			if tc.f == nil {
				clean = tables
				return
			}
			require.NotNil(t, clean, "the clean run failed: nothing to compare with")
			for _, r := range clusterRounds {
				assert.Equal(t, clean[r.name], tables[r.name], "%s: the %s round's tables differ from a clean run's", tc.name, r.name)
			}
		})
	}
}

// runRounds authorises a partner of roundTenants tenants on a fresh cluster
// with two workers, then runs every round, with f (if any) striking each
// midway. It returns each round's tables.
func runRounds(t *testing.T, bin string, f *fault) map[string][]string {
	sc := sim.Generate(sim.GenerateOptions{Seed: 100, Tenants: roundTenants, UsersPerTenant: 10})
	s := testenv.NewClusterStack(t, sc, sim.Options{})
	w := startWorkers(t, s, bin, 2)
	authorise(t, s, connectOpts{licenceSource: "subscriptions"})
	tables := map[string][]string{}
	for i, r := range clusterRounds {
		if f != nil && i > 0 {
			f.recover(t, s, w)
		}
		waitQuiet(t, s, r, roundTenants)
		r.change(t, s)
		since := dbNow(t, s)
		type result struct {
			out string
			err error
		}
		finished := make(chan result, 1)
		start := time.Now()
		go func() { out, err := r.run(t, s); finished <- result{out, err} }()
		if f != nil {
			require.Eventually(t, func() bool { return r.done(t, s, since) >= roundTenants/5 }, 3*time.Minute, 5*time.Millisecond)
			f.inject(t, s, w)
			midway := r.done(t, s, since)
			require.Less(t, midway, roundTenants, "the fault must strike before the %s round ends", r.name)
			t.Logf("%s round: fault after %d of %d tenants", r.name, midway, roundTenants)
		}
		res := <-finished
		require.NoError(t, res.err, res.out)
		t.Logf("%s round: %s", r.name, time.Since(start).Round(time.Millisecond))
		assert.Equal(t, roundTenants, r.done(t, s, since), "every tenant's %s round finished", r.name)
		r.check(t, s)
		tables[r.name] = r.tables(t, s)
	}
	w.assertShared(t, s)
	return tables
}

// waitQuiet waits until every one of the n tenants has had the round once
// and no tenant's cycle is in progress (discovery's first, or the last
// round's), so the next change meets every tenant at the same point.
func waitQuiet(t *testing.T, s *testenv.Stack, r round, n int) {
	t.Helper()
	waitTenants(t, s, 3*time.Minute, func(ts map[string]store.Customer) bool {
		for _, c := range ts {
			if !c.SyncState.Settled() {
				return false
			}
		}
		return len(ts) == n && r.done(t, s, time.Time{}) == n
	})
}

func TestClusterTenantLifecycleWithConsentAndSearchBySyncState(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 31, Tenants: 12, GDAP: 6, UsersPerTenant: 2})
	dap, gdap := sc.Tenants[:6], sc.Tenants[6:]
	s := testenv.NewClusterStack(t, sc, sim.Options{})
	ctx := context.Background()
	info, err := s.Client.WorkflowService().GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{})
	require.NoError(t, err)
	assert.Equal(t, "postgres12", info.VisibilityStore, "search attributes are answered by SQL visibility")
	w := startWorkers(t, s, buildWorker(t), 2)

	// Authorisation and discovery: Microsoft says which tenants are DAP
	// (Ready) and which GDAP (waiting for consent).
	authorise(t, s, connectOpts{relationship: "GDAP"})
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		return len(ts) == len(sc.Tenants) && allIn(ts, domain.TenantAwaitingConsent, gdap...) && allIn(ts, domain.TenantReady, dap...)
	})
	assertSearchMatchesTenants(t, s)

	// Three GDAP tenants consent.
	for _, tn := range gdap[:3] {
		require.NoError(t, s.Sim.GrantConsent(tn.ID))
		out, err := runCLI(t, s, "consent", "grant", tn.ID)
		require.NoError(t, err, out)
	}
	ready := append(slices.Clone(dap), gdap[:3]...)
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantReady, ready...) && allIn(ts, domain.TenantAwaitingConsent, gdap[3:]...)
	})
	assertSearchMatchesTenants(t, s)

	// A revoked consent sends its tenant back to waiting.
	require.NoError(t, s.Sim.RevokeConsent(gdap[0].ID))
	out, err := runCLI(t, s, "consent", "revoke", gdap[0].ID)
	require.NoError(t, err, out)
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool {
		return allIn(ts, domain.TenantAwaitingConsent, gdap[0]) && allIn(ts, domain.TenantReady, gdap[1], gdap[2])
	})
	assertSearchMatchesTenants(t, s)

	w.assertShared(t, s)
}

// assertSearchMatchesTenants lists the running tenant workflows by their
// SyncState search attribute, through the client (SQL visibility answers),
// and compares them with the tenants' states in PostgreSQL, state by state.
// Visibility trails the workflows by moments, so it is asked until it agrees.
func assertSearchMatchesTenants(t *testing.T, s *testenv.Stack) {
	t.Helper()
	ctx := context.Background()
	customers, err := s.Store.ListCustomers(ctx, "acme")
	require.NoError(t, err)
	want := map[domain.TenantState][]string{}
	for _, c := range customers {
		want[c.SyncState] = append(want[c.SyncState], c.TenantID)
	}
	for _, state := range []domain.TenantState{domain.TenantAwaitingConsent, domain.TenantReady} {
		slices.Sort(want[state])
		query := fmt.Sprintf(`%s = %q AND %s = "acme" AND ExecutionStatus = "Running"`, config.SearchSyncState, state, config.SearchPartnerID)
		var got []string
		ok := assert.Eventually(t, func() bool {
			got = nil
			var token []byte
			for {
				resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
				if err != nil {
					t.Logf("%s: %v", query, err)
					return false
				}
				for _, ex := range resp.Executions {
					var id string
					require.NoError(t, converter.GetDefaultDataConverter().FromPayload(
						ex.SearchAttributes.GetIndexedFields()[config.SearchTenantID], &id))
					got = append(got, id)
				}
				if token = resp.NextPageToken; len(token) == 0 {
					break
				}
			}
			slices.Sort(got)
			return slices.Equal(got, want[state])
		}, 30*time.Second, 200*time.Millisecond)
		if !ok {
			t.Fatalf("%s lists %q; the tenants in that state are %q", query, got, want[state])
		}
	}
}

// workers are worker processes of the real binary on one stack's task
// queue, each with its own HTTP port; the first listens where the stack's
// public URL points, for the sign-in callbacks.
type workers struct {
	s     *testenv.Stack
	bin   string
	addrs []string
	cmds  []*exec.Cmd
	pids  []int // every process started, killed ones included
}

func startWorkers(t *testing.T, s *testenv.Stack, bin string, n int) *workers {
	t.Helper()
	w := &workers{s: s, bin: bin, addrs: []string{s.Worker.HTTPAddr}, cmds: make([]*exec.Cmd, n)}
	for len(w.addrs) < n {
		w.addrs = append(w.addrs, "127.0.0.1:"+strconv.Itoa(testenv.FreePort(t)))
	}
	for i := range n {
		w.start(t, i)
	}
	return w
}

func (w *workers) start(t *testing.T, i int) {
	t.Helper()
	cmd := exec.Command(w.bin)
	cmd.Env = append(w.s.WorkerEnv(), config.EnvHTTPAddr+"="+w.addrs[i])
	if os.Getenv("CSPSYNC_TEST_VERBOSE") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	require.NoError(t, testenv.WaitReachable(w.addrs[i], 30*time.Second))
	w.cmds[i] = cmd
	w.pids = append(w.pids, cmd.Process.Pid)
}

func (w *workers) kill(t *testing.T, i int) {
	t.Helper()
	require.NoError(t, w.cmds[i].Process.Signal(syscall.SIGKILL))
	_, _ = w.cmds[i].Process.Wait()
}

// assertShared checks, in every workflow run's history, that each worker
// process started activities: the work was shared.
func (w *workers) assertShared(t *testing.T, s *testenv.Stack) {
	t.Helper()
	ctx := context.Background()
	byPid := map[int]int{}
	var token []byte
	for {
		resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		require.NoError(t, err)
		for _, ex := range resp.Executions {
			iter := s.Client.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for iter.HasNext() {
				ev, err := iter.Next()
				require.NoError(t, err)
				if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
					pid, _, _ := strings.Cut(a.Identity, "@") // the SDK's default identity: pid@host@queue
					n, _ := strconv.Atoi(pid)
					byPid[n]++
				}
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	for _, pid := range w.pids {
		assert.Positive(t, byPid[pid], "worker process %d started no activity (activities by process: %v)", pid, byPid)
	}
	t.Logf("activities started by worker process: %v", byPid)
}

func dbNow(t *testing.T, s *testenv.Stack) time.Time {
	t.Helper()
	var now time.Time
	require.NoError(t, s.Store.Pool().QueryRow(context.Background(), `SELECT now()`).Scan(&now))
	return now
}

// TestClusterRoundOnOneAndTwoWorkers times the measured round of 50 tenants
// on one worker and on two and prints the table. The two clusters are up
// together and take turns, so the machine's other load weighs on both
// alike. It asserts what every round did, never how fast.
func TestClusterRoundOnOneAndTwoWorkers(t *testing.T) {
	const tenants, users, rounds = 50, 400, 5
	bin := buildWorker(t)
	r := measuredRound
	stacks := map[int]*testenv.Stack{}
	for _, n := range []int{1, 2} {
		s := testenv.NewClusterStack(t, sim.Generate(sim.GenerateOptions{Seed: 50, Tenants: tenants, UsersPerTenant: users}), sim.Options{})
		startWorkers(t, s, bin, n)
		authorise(t, s, connectOpts{licenceSource: "subscriptions"})
		stacks[n] = s
	}
	took := map[int][]time.Duration{}
	for range rounds {
		for _, n := range []int{1, 2} {
			s := stacks[n]
			waitQuiet(t, s, r, tenants)
			r.change(t, s)
			since := dbNow(t, s)
			start := time.Now()
			out, err := r.run(t, s)
			require.NoError(t, err, out)
			took[n] = append(took[n], time.Since(start))
			require.Equal(t, tenants, r.done(t, s, since))
		}
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%s round of %d tenants of %d users, median of %d rounds, on a Temporal cluster (PostgreSQL, SQL visibility):\n", r.name, tenants, users, rounds)
	fmt.Fprintf(&table, "  %-8s %10s %10s %9s\n", "workers", "round", "tenants/s", "speed-up")
	median := map[int]time.Duration{}
	for _, n := range []int{1, 2} {
		r.check(t, stacks[n])
		slices.Sort(took[n])
		median[n] = took[n][len(took[n])/2]
		fmt.Fprintf(&table, "  %-8d %10s %10.1f %8.2fx\n", n, median[n].Round(time.Millisecond),
			float64(tenants)/median[n].Seconds(), median[1].Seconds()/median[n].Seconds())
		t.Logf("%d workers: %v", n, took[n])
	}
	t.Log("\n" + table.String())
}
