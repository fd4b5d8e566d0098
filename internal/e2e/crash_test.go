package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// startWorkerProcess runs the real worker binary, so the test can SIGKILL it.
func startWorkerProcess(t testing.TB, s *testenv.Stack, bin string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = s.WorkerEnv()
	if os.Getenv("CSPSYNC_TEST_VERBOSE") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	require.NoError(t, testenv.WaitReachable(s.Worker.HTTPAddr, 30*time.Second))
	return cmd
}

// buildWorker builds the worker binary for a test that kills it.
func buildWorker(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cspsync-worker")
	build := exec.Command("go", "build", "-o", bin, "./worker")
	build.Dir = testenv.RepoRoot()
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

func TestWorkerKilledDuringDiscoveryResumesWithoutDuplicates(t *testing.T) {
	const tenants = 2000
	bin := buildWorker(t)

	sc := sim.Generate(sim.GenerateOptions{Seed: 2000, Tenants: tenants, GDAP: tenants})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.Worker.DiscoveryPageSize = 10 // 200 pages: a long enough discovery to kill it midway
	ctx := context.Background()

	worker := startWorkerProcess(t, s, bin)
	// GDAP tenants wait for consent: no tenant syncs compete with the discovery.
	link := connect(t, s, connectOpts{partner: "acme", heartbeat: 3 * time.Second, relationship: "GDAP"})
	status, page, _ := signIn(t, s, link)
	require.Equal(t, http.StatusOK, status, page)

	// Kill the worker once some, but not all, pages are committed.
	var midway int
	var err error
	require.Eventually(t, func() bool {
		midway, err = testenv.CountCustomers(ctx, s.Store, "acme")
		return err == nil && midway >= 300
	}, 60*time.Second, 5*time.Millisecond)
	require.NoError(t, worker.Process.Signal(syscall.SIGKILL))
	_, _ = worker.Process.Wait()
	midway, err = testenv.CountCustomers(ctx, s.Store, "acme")
	require.NoError(t, err)
	require.Less(t, midway, tenants, "the worker must die before discovery finished")
	cursor, err := s.Store.DiscoveryCursor(ctx, "acme")
	require.NoError(t, err)
	require.NotEmpty(t, cursor, "an unfinished discovery leaves its cursor")

	startWorkerProcess(t, s, bin)
	st := waitPartner(t, s, "acme", 2*time.Minute, func(st workflows.PartnerState) bool { return st.Discoveries == 1 })
	assert.True(t, st.LastDiscovery.Resumed, "the retry resumed from the stored cursor")
	// Nothing commits once the worker is dead: the resumed attempt read
	// exactly the tenants not committed, and inserted each once.
	assert.Equal(t, tenants-midway, st.LastDiscovery.Tenants, "the resumed attempt started at the first page not committed")
	assert.Equal(t, tenants-midway, st.LastDiscovery.Inserted)

	var total, distinctTenants, distinctNames int
	require.NoError(t, s.Store.Pool().QueryRow(ctx, `SELECT count(*), count(DISTINCT azure_tenant_id), count(DISTINCT name)
		FROM customers WHERE partner_id = 'acme'`).Scan(&total, &distinctTenants, &distinctNames))
	assert.Equal(t, tenants, total)
	assert.Equal(t, tenants, distinctTenants)
	assert.Equal(t, tenants, distinctNames)
	cursor, err = s.Store.DiscoveryCursor(ctx, "acme")
	require.NoError(t, err)
	assert.Empty(t, cursor)
	t.Logf("killed with %d of %d customers committed; resumed attempt saw %d tenants", midway, tenants, st.LastDiscovery.Tenants)
}

func TestPostgresRestartDuringDiscoveryLosesNothing(t *testing.T) {
	const tenants = 2000
	pg := testenv.PrivatePostgres(t) // the shared server the other tests use is never stopped
	sc := sim.Generate(sim.GenerateOptions{Seed: 2001, Tenants: tenants, GDAP: tenants})
	s := testenv.NewStack(t, sc, sim.Options{}, testenv.OnPostgres(pg.URL))
	s.Worker.DiscoveryPageSize = 10 // 200 pages
	s.StartWorker()
	ctx := context.Background()
	link := connect(t, s, connectOpts{partner: "acme", relationship: "GDAP"})
	status, page, _ := signIn(t, s, link)
	require.Equal(t, http.StatusOK, status, page)

	// Restart PostgreSQL once some, but not all, pages are committed.
	var before int
	require.Eventually(t, func() bool {
		n, err := testenv.CountCustomers(ctx, s.Store, "acme")
		before = n
		return err == nil && n >= 300
	}, 60*time.Second, 5*time.Millisecond)
	pg.Stop()
	_, err := testenv.CountCustomers(ctx, s.Store, "acme")
	require.Error(t, err, "PostgreSQL is down")
	pg.Start()

	st := waitPartner(t, s, "acme", 2*time.Minute, func(st workflows.PartnerState) bool { return st.Discoveries == 1 })
	require.Less(t, before, tenants, "the restart came before discovery finished")
	var total, distinctTenants, distinctNames int
	require.NoError(t, s.Store.Pool().QueryRow(ctx, `SELECT count(*), count(DISTINCT azure_tenant_id), count(DISTINCT name)
		FROM customers WHERE partner_id = 'acme'`).Scan(&total, &distinctTenants, &distinctNames))
	assert.Equal(t, tenants, total)
	assert.Equal(t, tenants, distinctTenants)
	assert.Equal(t, tenants, distinctNames)
	// The attempt cut off by the restart failed; its retry resumed at the
	// first page not committed and inserted every tenant it read, once.
	assert.True(t, st.LastDiscovery.Resumed, "the retry resumed from the stored cursor")
	assert.LessOrEqual(t, st.LastDiscovery.Tenants, tenants-before)
	assert.Equal(t, st.LastDiscovery.Tenants, st.LastDiscovery.Inserted, "no page was read twice")
	assert.Zero(t, st.LastDiscovery.Updated)
	cursor, err := s.Store.DiscoveryCursor(ctx, "acme")
	require.NoError(t, err)
	assert.Empty(t, cursor)
	t.Logf("restarted with at least %d of %d customers committed; resumed attempt saw %d tenants", before, tenants, st.LastDiscovery.Tenants)
}
