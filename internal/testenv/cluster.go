package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// Cluster is a private Temporal server in cspsync's production topology:
// temporal-server on PostgreSQL with SQL visibility, configured by
// deploy/temporal/config (the configuration docker-compose.yml mounts) and
// brought up by scripts/temporal-cluster.sh (the steps `make cluster` runs),
// on its own pair of databases on the test PostgreSQL server and its own
// ports. The databases are dropped when the test ends.
type Cluster struct {
	Address   string
	Namespace string
	t         testing.TB
	env       []string
	dir       string
}

// clusterPorts are the ports the server configuration reads from the
// environment: each service's gRPC and membership ports, and the frontend's
// HTTP port.
var clusterPorts = []string{
	"FRONTEND_GRPC_PORT", "FRONTEND_HTTP_PORT", "FRONTEND_MEMBERSHIP_PORT",
	"HISTORY_GRPC_PORT", "HISTORY_MEMBERSHIP_PORT", "MATCHING_GRPC_PORT",
	"MATCHING_MEMBERSHIP_PORT", "WORKER_GRPC_PORT", "WORKER_MEMBERSHIP_PORT",
}

// StartCluster creates and migrates the test's Temporal databases, starts
// temporal-server on them and registers the namespace and cspsync's search
// attributes. It needs `make tools server-tools`.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	for _, bin := range []string{"temporal", "temporal-server", "temporal-sql-tool"} {
		_, err := os.Stat(filepath.Join(RepoRoot(), ".bin", bin))
		require.NoError(t, err, "cluster tests need .bin/%s: run `make tools server-tools`", bin)
	}
	pg, err := url.Parse(adminURL())
	require.NoError(t, err, "%s must be a postgres:// URL", EnvTestDatabaseURL)
	password, _ := pg.User.Password()
	port := pg.Port()
	if port == "" {
		port = "5432"
	}
	suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
	c := &Cluster{t: t, Namespace: "default", dir: t.TempDir()}
	dbs := []string{"temporal_test_" + suffix, "temporal_visibility_test_" + suffix}
	t.Cleanup(func() { dropDatabases(dbs) }) // runs last, once the server has stopped
	c.env = append(os.Environ(),
		"CLUSTER_DIR="+c.dir, "TEMPORAL_NAMESPACE="+c.Namespace, "LOG_LEVEL=warn",
		"POSTGRES_SEEDS="+pg.Hostname(), "DB_PORT="+port, "POSTGRES_USER="+pg.User.Username(), "POSTGRES_PWD="+password,
		"DBNAME="+dbs[0], "VISIBILITY_DBNAME="+dbs[1],
		// Each of the server's four services keeps its own pools: small ones
		// let two clusters, their workers and other tests share the machine's
		// PostgreSQL (100 connections) without being refused.
		"SQL_MAX_CONNS=5", "SQL_VIS_MAX_CONNS=2")
	for i, p := range freePorts(t, len(clusterPorts)) {
		c.env = append(c.env, clusterPorts[i]+"="+strconv.Itoa(p))
		if clusterPorts[i] == "FRONTEND_GRPC_PORT" {
			c.Address = "127.0.0.1:" + strconv.Itoa(p)
		}
	}
	t.Cleanup(func() { c.script("stop") })
	c.script("up")
	return c
}

// Restart stops temporal-server and starts it again on the same databases
// and ports.
func (c *Cluster) Restart() {
	c.t.Helper()
	c.script("stop")
	c.script("start")
}

func (c *Cluster) script(command string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(RepoRoot(), "scripts", "temporal-cluster.sh"), command)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "logs", "temporal.log"))
		require.NoError(c.t, err, "scripts/temporal-cluster.sh %s:\n%s\nserver log:\n%s", command, out, tail(string(log), 4000))
	}
}

// freePorts returns n distinct TCP ports, free at the time of the call,
// below the ephemeral range: the server records its services' ports in a
// smallint column (cluster_membership), so they must stay under 32768.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for p := 10000 + rand.IntN(20000); len(ports) < n && p < 32768; p++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		defer l.Close() // held until all are chosen, so none repeats
		ports = append(ports, p)
	}
	require.Len(t, ports, n, "no %d free ports under 32768", n)
	return ports
}

func dropDatabases(names []string) {
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(adminURL())
	if err != nil {
		return
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	for _, name := range names {
		_, _ = conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	}
}
