package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/testenv"
)

// BenchmarkReport is `make bench`: every headline figure of issue 19
// measured end to end on the real parts (the worker, a Temporal dev server,
// PostgreSQL, the simulator over HTTPS), printed as one table with its
// target and, where there is one, the floor measured in the same run. Each
// part is a sub-benchmark (`-bench 'Report/discovery'` runs one); it asserts
// what the runs did, never how fast.
func BenchmarkReport(b *testing.B) {
	var r report
	bin := buildWorker(b)
	for _, c := range []struct {
		name           string
		tenants, users int
		rows           *[]benchRow
	}{{"users-50x2000", 50, 2000, &r.small}, {"users-1x100000", 1, 100000, &r.large}} {
		b.Run(c.name, func(b *testing.B) {
			*c.rows = benchUsers(b, bin, c.name, c.tenants, c.users)
		})
	}
	// The service-user rules' cost; users-rules-2x200 is the smoke size for a loaded machine.
	for _, c := range []struct {
		name           string
		tenants, users int
	}{{"users-rules-50x2000", 50, 2000}, {"users-rules-2x200", 2, 200}} {
		b.Run(c.name, func(b *testing.B) {
			r.rules = append(r.rules, benchRules(b, bin, c.name, c.tenants, c.users))
		})
	}
	b.Run("discovery-2000", func(b *testing.B) {
		r.discovery = &discoveryFigures{}
		benchDiscovery(b, r.discovery)
	})
	b.Run("licences-500", func(b *testing.B) {
		d := benchLicences(b, bin, 500)
		r.licences = &d
	})
	fmt.Println(r.table())
}

// benchLicences measures a first licence import: from the partner's
// sign-in until every one of n tenants has its licences stored (discovery,
// n tenant workflows, each importing its subscriptions from Partner Center).
func benchLicences(b *testing.B, bin string, n int) time.Duration {
	sc := sim.Generate(sim.GenerateOptions{Seed: 500, Tenants: n, UsersPerTenant: 2})
	s := testenv.NewStack(b, sc, sim.Options{})
	startWorkerProcess(b, s, bin)
	ctx := context.Background()
	imported := func() int {
		var k int
		require.NoError(b, s.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM customers WHERE licences_at IS NOT NULL`).Scan(&k))
		return k
	}
	start := time.Now()
	status, page, _ := signIn(b, s, connect(b, s, connectOpts{partner: "acme"}))
	require.Equal(b, http.StatusOK, status, page)
	require.Eventually(b, func() bool { return imported() == n }, 10*time.Minute, 50*time.Millisecond)
	return time.Since(start)
}

type report struct {
	small, large []benchRow   // full, delta, delta minimal
	rules        [][]benchRow // per size: full without rules, full turning them on, full with them, delta with them
	discovery    *discoveryFigures
	licences     *time.Duration
}

// table is the report: figure, this run, target, floor, x floor.
func (r report) table() string {
	var t strings.Builder
	fmt.Fprintf(&t, "\ncspsync benchmark report (`make bench`), %s, %d CPUs, %s memory\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		runtime.NumCPU(), memTotal())
	fmt.Fprintln(&t, "| figure | this run | target | floor (same run) | x floor |")
	fmt.Fprintln(&t, "|---|---|---|---|---|")
	row := func(figure, got, target, floor, ratio string) {
		fmt.Fprintf(&t, "| %s | %s | %s | %s | %s |\n", figure, got, target, floor, ratio)
	}
	notRun := func(figure, target string) { row(figure, "not run", target, "", "") }
	users := func(name string, rows []benchRow, target, rssTarget string) {
		if len(rows) == 0 {
			notRun("users full round, "+name, target)
			return
		}
		full := rows[0]
		row("users full round, "+name, fmt.Sprintf("%s, %s users/s", secs(full.took), thousands(float64(full.users)/full.took.Seconds())),
			target, secs(full.floor), fmt.Sprintf("%.1fx", full.took.Seconds()/full.floor.Seconds()))
		spent := (full.microsoft + full.decide + full.write).Seconds()
		row("↳ where a full round's time goes, "+name, fmt.Sprintf("writing %.0f %%, deciding %.0f %%, Microsoft %.0f %%",
			100*full.write.Seconds()/spent, 100*full.decide.Seconds()/spent, 100*full.microsoft.Seconds()/spent), "", "", "")
		for _, d := range rows[1:] {
			row(fmt.Sprintf("users %s round vs full, %s", d.round, name), fmt.Sprintf("%.0fx faster (%s wall; Σ rounds %s vs %s, %.0fx; "+
				"the delta's: before the pages %s, Microsoft %s, deciding %s, writing %s)",
				full.took.Seconds()/d.took.Seconds(), secs(d.took), secs(d.roundsTook), secs(full.roundsTook),
				full.roundsTook.Seconds()/d.roundsTook.Seconds(), secs(d.roundsTook-d.microsoft-d.decide-d.write), secs(d.microsoft),
				secs(d.decide), secs(d.write)), map[bool]string{true: ">= 50x"}[d.round == "delta (1 %)"], "", "")
		}
		for _, d := range rows {
			other := d.graphRequests - d.deltaRequests - d.rereadRequests
			row(fmt.Sprintf("Graph requests, %s round, %s", d.round, name), fmt.Sprintf("%d: users/delta %d, re-reads %d (%d users), other %d",
				d.graphRequests, d.deltaRequests, d.rereadRequests, d.rereadUsers, other), "", "", "")
		}
		if len(full.events) > 0 {
			lo, hi := full.events[0], full.events[0]
			for _, e := range full.events {
				lo, hi = min(lo, e), max(hi, e)
			}
			row("history events per tenant run with a users round, "+name, fmt.Sprintf("%d..%d", lo, hi), "the same whatever the size", "", "")
		}
		row("worker peak RSS, "+name, fmt.Sprintf("%.0f MB", float64(full.peakRSS)/(1<<20)), rssTarget, "", "")
	}
	users("50 x 2,000", r.small, "<= 2x floor, >= 20,000 users/s", "")
	users("1 x 100,000", r.large, "<= 2x floor", "< 150 MB")
	if len(r.rules) == 0 {
		notRun("users full round with a service group and billable SKUs vs without", "<= 1.10x")
	}
	for _, rows := range r.rules {
		plain, first, with := rows[0], rows[1], rows[2]
		row("users full round with a service group and billable SKUs in force vs without, "+plain.scenario,
			fmt.Sprintf("%.2fx (medians %s vs %s, of %s vs %s; %s of %s PSA users are service users)", with.took.Seconds()/plain.took.Seconds(),
				secs(with.took), secs(plain.took), samples(with.samples), samples(plain.samples),
				thousands(float64(with.serviceUsers)), thousands(float64(with.psaUsers))), "<= 1.10x", "", "")
		row("↳ the round that turns them on vs without (membership read in full, those users changed), "+plain.scenario,
			fmt.Sprintf("%.2fx (%s vs %s)", first.took.Seconds()/plain.took.Seconds(), secs(first.took), secs(plain.took)), "", "", "")
		for _, d := range rows[:3] {
			// The pages' laps start at the first page: what comes before it (the service
			// groups' read and decisions) is the rest of the round's time.
			before := d.roundsTook - d.microsoft - d.decide - d.write
			row(fmt.Sprintf("↳ Σ rounds, %s, %s", d.round, d.scenario), fmt.Sprintf("%s: before the pages %s, Microsoft %s, deciding %s, writing %s",
				secs(d.roundsTook), secs(before), secs(d.microsoft), secs(d.decide), secs(d.write)), "", "", "")
		}
		for _, d := range rows[1:3] {
			row(fmt.Sprintf("↳ CPU the stack spent (worker, PostgreSQL, Temporal, simulator), %s vs no rules, %s", d.round, plain.scenario),
				fmt.Sprintf("%.2fx (%s vs %s; worker %s vs %s, PostgreSQL %s vs %s, Temporal %s vs %s, simulator %s vs %s)",
					d.cpu.total().Seconds()/plain.cpu.total().Seconds(), secs(d.cpu.total()), secs(plain.cpu.total()),
					secs(d.cpu.worker), secs(plain.cpu.worker), secs(d.cpu.postgres), secs(plain.cpu.postgres),
					secs(d.cpu.temporal), secs(plain.cpu.temporal), secs(d.cpu.sim), secs(plain.cpu.sim)), "", "", "")
		}
		for _, d := range rows {
			other := d.graphRequests - d.deltaRequests - d.rereadRequests - d.groupRequests
			row(fmt.Sprintf("Graph requests, %s, %s", d.round, d.scenario), fmt.Sprintf("%d: users/delta %d, groups %d, re-reads %d, other %d",
				d.graphRequests, d.deltaRequests, d.groupRequests, d.rereadRequests, other), "pages + groups pages + constant", "", "")
		}
	}
	if d := r.discovery; d != nil {
		measured := func(figure string, d time.Duration, got, target string) {
			if d == 0 {
				got = "not measured (the part failed before it)"
			}
			row(figure, got, target, "", "")
		}
		measured("first import of 2,000 tenants (sign-in to every tenant stored and its workflow running)", d.firstImport,
			secs(d.firstImport), "< 30 s")
		measured("↳ until every tenant's first cycle (its licence import) settled", d.firstCycles, secs(d.firstCycles), "")
		measured("rediscovery of 2,000 known tenants", d.rediscover,
			fmt.Sprintf("%s, %s tenants/s", secs(d.rediscover), thousands(float64(d.tenants)/d.rediscover.Seconds())), "< 2 s")
		measured("↳ where the rediscovery's time goes", d.rediscover, fmt.Sprintf("reading (GDAP, Partner Center) and saving the tenants %s, ensuring their workflows run %s",
			secs(d.discoverActivity), secs(d.ensureActivity)), "")
		measured("credential reads per 1,000 Graph requests (rediscovery)", d.rediscover, fmt.Sprintf("%.1f (%d reads; %d Graph requests, %d Partner Center pages)",
			float64(d.credentialReads)*1000/max(float64(d.graphRequests), 1), d.credentialReads, d.graphRequests, d.pcRequests), "<= 10")
	} else {
		notRun("first import of 2,000 tenants", "< 30 s")
		notRun("rediscovery of 2,000 known tenants", "< 2 s")
		notRun("credential reads per 1,000 Graph requests", "<= 10")
	}
	if r.licences != nil {
		row("licence import of 500 tenants (sign-in to every tenant's licences stored)", secs(*r.licences), "", "", "")
	} else {
		notRun("licence import of 500 tenants", "")
	}
	fmt.Fprintln(&t, "\nfloor: the same users/delta pages fetched with plain HTTP and written with one COPY per tenant into an unindexed table.")
	fmt.Fprintln(&t, "Graph requests \"other\": the daily sign-in pass after a full round and each cycle's tenant read; \"delta, minimal\": Graph")
	fmt.Fprintln(&t, "answering updated users with their changed properties only (Prefer: return=minimal), so they are read again by id.")
	return t.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// samples lists durations in seconds: "6.1, 6.3, 6.9 s".
func samples(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.2f", d.Seconds())
	}
	return strings.Join(parts, ", ") + " s"
}

// thousands formats a count with thousands separators.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// memTotal is the machine's memory, from /proc/meminfo.
func memTotal() string {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	var kb int64
	for _, line := range strings.Split(string(raw), "\n") {
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}
