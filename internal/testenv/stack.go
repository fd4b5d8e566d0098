package testenv

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
)

// Stack is everything cspsync runs on, real and local: PostgreSQL (a fresh
// database), a Temporal dev server (or a cluster) and the Microsoft
// simulator over HTTPS.
type Stack struct {
	T        testing.TB
	Store    *store.Store
	Temporal *Temporal // the dev server; nil on a cluster
	Cluster  *Cluster  // the production topology (NewClusterStack); nil on the dev server
	Client   client.Client
	Sim      *sim.Server
	Scenario sim.Scenario
	HTTP     *http.Client // trusts the simulator's CA
	Worker   config.Worker
}

// StackOption changes what NewStack starts.
type StackOption func(*stackConfig)

type stackConfig struct {
	postgres string // admin URL of the PostgreSQL server the test database is made on
}

// OnPostgres makes the stack's database on another PostgreSQL server (its
// admin URL), such as a PrivatePostgres.
func OnPostgres(adminURL string) StackOption {
	return func(c *stackConfig) { c.postgres = adminURL }
}

// NewStack starts the services for one test. When a test ends without
// failing, every workflow run it produced is replayed against the current
// code.
func NewStack(t testing.TB, sc sim.Scenario, simOpts sim.Options, opts ...StackOption) *Stack {
	t.Helper()
	cfg := stackConfig{postgres: adminURL()}
	for _, o := range opts {
		o(&cfg)
	}
	tp := StartTemporal(t, config.SearchAttributes)
	s := newStack(t, sc, simOpts, tp.Address, cfg.postgres)
	s.Temporal = tp
	return s
}

// NewClusterStack starts the services for one test with a private Temporal
// cluster (StartCluster) in place of the dev server.
func NewClusterStack(t testing.TB, sc sim.Scenario, simOpts sim.Options) *Stack {
	t.Helper()
	c := StartCluster(t)
	s := newStack(t, sc, simOpts, c.Address, adminURL())
	s.Cluster = c
	return s
}

func newStack(t testing.TB, sc sim.Scenario, simOpts sim.Options, temporalAddress, postgres string) *Stack {
	t.Helper()
	st, dbURL, key := storeOn(t, postgres)
	if simOpts.StateDir == "" {
		simOpts.StateDir = t.TempDir()
	}
	srv, err := sim.New(sc, simOpts)
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close() })
	hc, err := microsoft.NewHTTPClient(srv.CAFile())
	require.NoError(t, err)
	tc, err := service.DialTemporal(context.Background(), temporalAddress, "default", quietLogger())
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	port := FreePort(t)
	s := &Stack{T: t, Store: st, Client: tc, Sim: srv, Scenario: sc, HTTP: hc,
		Worker: config.Worker{Connection: config.Connection{
			DatabaseURL: dbURL, EncryptionKey: key, TemporalAddress: temporalAddress, TemporalNamespace: "default",
			TaskQueue: "cspsync-test", PublicURL: "http://localhost:" + itoa(port), CAFile: srv.CAFile()},
			HTTPAddr: "127.0.0.1:" + itoa(port), DiscoveryPageSize: 100, UserPageSize: 200,
			// Said explicitly, as a worker must: tests that sign in as any
			// user of the partner's tenant set it; those about the allow-list
			// replace it.
			Operators: config.Operators{EveryoneInPartnerTenant: true},
			Concurrency: config.Concurrency{Activities: config.DefaultMaxConcurrentActivities,
				WorkflowTasks: config.DefaultMaxConcurrentWorkflowTasks, TaskQueueActivitiesPerSecond: config.DefaultTaskQueueActivitiesPerSecond},
		}}
	// Cleanups run last-in first-out: this one runs after the worker (started
	// later) has stopped and before Temporal stops.
	s.replayAtEnd()
	return s
}

// WorkerEnv is the worker configuration as environment variables, for a
// worker run as a separate process.
func (s *Stack) WorkerEnv() []string {
	w := s.Worker
	return append(os.Environ(),
		config.EnvDatabaseURL+"="+w.DatabaseURL, config.EnvEncryptionKey+"="+w.EncryptionKey,
		config.EnvTemporalAddress+"="+w.TemporalAddress, config.EnvTemporalNamespace+"="+w.TemporalNamespace,
		config.EnvTaskQueue+"="+w.TaskQueue, config.EnvHTTPAddr+"="+w.HTTPAddr, config.EnvPublicURL+"="+w.PublicURL,
		config.EnvCAFile+"="+w.CAFile, config.EnvDiscoveryPageSize+"="+itoa(w.DiscoveryPageSize), config.EnvUserPageSize+"="+itoa(w.UserPageSize),
		config.EnvOperators+"="+strings.Join(w.Operators.UPNs, ","), config.EnvOperatorGroup+"="+w.Operators.Group,
		config.EnvOperatorsEveryone+"="+strconv.FormatBool(w.Operators.EveryoneInPartnerTenant),
		config.EnvMaxConcurrentActivities+"="+itoa(w.Concurrency.Activities),
		config.EnvMaxConcurrentWorkflowTasks+"="+itoa(w.Concurrency.WorkflowTasks),
		config.EnvTaskQueueActivitiesPerSecond+"="+strconv.FormatFloat(w.Concurrency.TaskQueueActivitiesPerSecond, 'g', -1, 64))
}

// StartWorker runs the worker in-process until the returned stop is called
// (or the test ends).
func (s *Stack) StartWorker() (stop func()) {
	s.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, s.Worker, quietLogger()) }()
	require.NoError(s.T, WaitReachable(s.Worker.HTTPAddr, 30*time.Second))
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			s.T.Errorf("worker stopped with error: %v", err)
		}
	}
	s.T.Cleanup(stop)
	return stop
}

// FollowRedirect GETs a redirect target (the worker's callback) as a browser would.
func (s *Stack) FollowRedirect(u string) (int, string) {
	s.T.Helper()
	resp, err := s.HTTP.Get(u)
	require.NoError(s.T, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func quietLogger() *slog.Logger {
	if os.Getenv("CSPSYNC_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func itoa(n int) string { return strconv.Itoa(n) }
