package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
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
	exited  chan error // receives the server's exit once
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
	// A dev server that exits at once (a side port taken between FreePort and
	// its bind, which happens when many test binaries start servers together)
	// is started again on fresh side ports; one that never answers is an error
	// carrying its own output, so a failure names its cause.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = tp.startOnce(searchAttributes); lastErr == nil {
			return
		}
		tp.t.Logf("Temporal dev server attempt %d: %v", attempt+1, lastErr)
		time.Sleep(time.Second)
	}
	require.NoError(tp.t, lastErr, "Temporal dev server did not start")
}

func (tp *Temporal) startOnce(searchAttributes map[string]string) error {
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(tp.port), "--headless",
		"--db-filename", tp.dbFile, "--log-level", "error", "--http-port", strconv.Itoa(FreePort(tp.t)),
		"--metrics-port", strconv.Itoa(FreePort(tp.t))}
	for k, v := range searchAttributes {
		args = append(args, "--search-attribute", k+"="+v)
	}
	cmd := exec.Command(tp.bin, args...)
	out := &tailBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if os.Getenv("CSPSYNC_TEST_VERBOSE") != "" {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(out, os.Stderr), io.MultiWriter(out, os.Stderr)
	}
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Under a loaded machine (every package's tests at once) a dev server can
	// take well over a minute to open its port.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", tp.Address, 500*time.Millisecond)
		if err == nil {
			conn.Close()
			tp.cmd, tp.exited = cmd, exited
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("dev server exited before %s answered (%v): %s", tp.Address, werr, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			return fmt.Errorf("%s not reachable after 3m: %w; server output: %s", tp.Address, err, out.String())
		}
	}
}

// tailBuffer keeps the last max bytes written to it (a server's output, for
// an error message).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Pid is the server's process id (0 when it is not running), for benchmarks that measure
// the CPU the stack spends.
func (tp *Temporal) Pid() int {
	if tp.cmd == nil || tp.cmd.Process == nil {
		return 0
	}
	return tp.cmd.Process.Pid
}

// Stop stops the server (its state stays in the SQLite file).
func (tp *Temporal) Stop() {
	if tp.cmd == nil {
		return
	}
	_ = syscall.Kill(-tp.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-tp.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-tp.cmd.Process.Pid, syscall.SIGKILL)
		<-tp.exited
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
