package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// EnvPostgresBin names the directory holding PostgreSQL's server binaries
// (initdb, pg_ctl) for PrivatePostgres; by default the newest
// /usr/lib/postgresql/*/bin, else the PATH.
const EnvPostgresBin = "CSPSYNC_POSTGRES_BIN"

// Postgres is a PostgreSQL server of one test's own, for tests that stop or
// restart it; the shared server the other tests use is never touched.
type Postgres struct {
	// URL is the server's admin URL (database postgres); pass it to NewStack
	// with OnPostgres.
	URL     string
	t       testing.TB
	bin     string
	dataDir string
	port    int
}

// PrivatePostgres initialises a fresh PostgreSQL cluster in a temporary
// directory, starts it on a free port and stops it when the test ends.
// PostgreSQL refuses to run as root, so as root it runs as the postgres user.
func PrivatePostgres(t testing.TB) *Postgres {
	t.Helper()
	pg := &Postgres{t: t, bin: postgresBin(t), port: FreePort(t)}
	dir, err := os.MkdirTemp("", "cspsync-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		require.NoError(t, err, "running PostgreSQL as root is refused, and there is no postgres user to run it as: "+
			"install Debian's postgresql package (it creates the user) or run the tests as another user")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
	}
	pg.dataDir = filepath.Join(dir, "data")
	pg.run("initdb", "--pgdata", pg.dataDir, "--username", "postgres", "--auth", "trust", "--encoding", "UTF8", "--no-sync")
	pg.Start()
	t.Cleanup(func() {
		if pg.status() {
			pg.run("pg_ctl", "--pgdata", pg.dataDir, "--mode", "immediate", "--wait", "--silent", "stop")
		}
	})
	pg.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	conn, err := pgx.Connect(context.Background(), pg.URL)
	require.NoError(t, err, "private PostgreSQL started but does not answer at %s", pg.URL)
	require.NoError(t, conn.Close(context.Background()))
	return pg
}

// Stop shuts the server down the way an operator's restart does: open
// connections are cut, committed data stays.
func (pg *Postgres) Stop() {
	pg.t.Helper()
	pg.run("pg_ctl", "--pgdata", pg.dataDir, "--mode", "fast", "--wait", "--silent", "stop")
}

// Start starts the server (again) on its port and data: TCP on 127.0.0.1
// only, the socket in the test's directory, fsync off (a test server,
// stopped cleanly).
func (pg *Postgres) Start() {
	pg.t.Helper()
	dir := filepath.Dir(pg.dataDir)
	pg.run("pg_ctl", "--pgdata", pg.dataDir, "--log", filepath.Join(dir, "server.log"), "--wait", "--silent",
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off", pg.port, dir), "start")
}

// Restart stops and starts the server.
func (pg *Postgres) Restart() {
	pg.t.Helper()
	pg.Stop()
	pg.Start()
}

func (pg *Postgres) status() bool {
	return pg.command("pg_ctl", "--pgdata", pg.dataDir, "status").Run() == nil
}

func (pg *Postgres) run(tool string, args ...string) {
	pg.t.Helper()
	out, err := pg.command(tool, args...).CombinedOutput()
	require.NoError(pg.t, err, "%s %s:\n%s", tool, strings.Join(args, " "), out)
}

// command runs one of the server tools, as the postgres user when we are root.
func (pg *Postgres) command(tool string, args ...string) *exec.Cmd {
	path := filepath.Join(pg.bin, tool)
	cmd := exec.Command(path, args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	cmd.Dir = filepath.Dir(pg.dataDir) // a directory the postgres user may enter
	return cmd
}

// postgresBin finds the directory of initdb and pg_ctl.
func postgresBin(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(EnvPostgresBin); dir != "" {
		return dir
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	t.Fatalf("a private PostgreSQL needs the server binaries initdb and pg_ctl, found neither in "+
		"/usr/lib/postgresql/*/bin nor on the PATH: install them (`apt-get install -y postgresql`) or set %s", EnvPostgresBin)
	return ""
}

// versionOf reads the major version out of /usr/lib/postgresql/<version>/bin.
func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}
