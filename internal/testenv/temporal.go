package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// EnvTemporalBin overrides where tests find the pinned Temporal CLI.
const EnvTemporalBin = "CSPSYNC_TEMPORAL_BIN"

// RepoRoot is the module's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// TemporalBin is the pinned Temporal CLI built by `make tools`.
func TemporalBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvTemporalBin)
	if bin == "" {
		bin = filepath.Join(RepoRoot(), ".bin", "temporal")
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "end-to-end tests need the pinned Temporal CLI: run `make tools` (or set %s)", EnvTemporalBin)
	return bin
}

// Temporal is a real Temporal dev server, persisted in a SQLite file so a
// test can stop and restart it.
type Temporal struct {
	Address string
	t       testing.TB
	bin     string
	dbFile  string
	port    int
	cmd     *exec.Cmd
}

// StartTemporal starts a dev server on a free port, stopped when the test ends.
func StartTemporal(t testing.TB, searchAttributes map[string]string) *Temporal {
	t.Helper()
	tp := &Temporal{t: t, bin: TemporalBin(t), dbFile: filepath.Join(t.TempDir(), "temporal.db"), port: FreePort(t)}
	tp.Address = "127.0.0.1:" + strconv.Itoa(tp.port)
	tp.start(searchAttributes)
	t.Cleanup(tp.Stop)
	return tp
}

func (tp *Temporal) start(searchAttributes map[string]string) {
	tp.t.Helper()
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(tp.port), "--headless",
		"--db-filename", tp.dbFile, "--log-level", "error", "--http-port", strconv.Itoa(FreePort(tp.t)),
		"--metrics-port", strconv.Itoa(FreePort(tp.t))}
	for k, v := range searchAttributes {
		args = append(args, "--search-attribute", k+"="+v)
	}
	cmd := exec.Command(tp.bin, args...)
	if os.Getenv("CSPSYNC_TEST_VERBOSE") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	cmd.SysProcAttr = childAttr()
	require.NoError(tp.t, cmd.Start())
	tp.cmd = cmd
	require.NoError(tp.t, WaitReachable(tp.Address, 60*time.Second), "Temporal dev server did not start")
}

// Stop stops the server (its state stays in the SQLite file).
func (tp *Temporal) Stop() {
	if tp.cmd == nil {
		return
	}
	_ = syscall.Kill(-tp.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = tp.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-tp.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	tp.cmd = nil
}

// Restart stops and starts the server on the same port and database.
func (tp *Temporal) Restart(searchAttributes map[string]string) {
	tp.t.Helper()
	tp.Stop()
	tp.start(searchAttributes)
}

// FreePort returns a TCP port free at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitReachable waits until a TCP address accepts connections.
func WaitReachable(addr string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not reachable after %s: %w", addr, d, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
