package testenv

import (
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// An inherited descriptor (here a pipe whose write end lacks close-on-exec,
// as a fuzz worker's pipes to its coordinator do) does not reach a child:
// once the test closes its own write end, the reader sees EOF although the
// child still runs.
func TestChildrenDoNotInheritDescriptors(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), syscall.F_SETFD, 0)
	require.Zero(t, errno)

	closeInheritedOnExec()
	child := exec.Command("sleep", "60")
	child.SysProcAttr = childAttr()
	require.NoError(t, child.Start())
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	require.NoError(t, w.Close())

	// The read blocks while any process holds the write end; the deadline
	// only turns a failure into an error instead of a hang.
	require.NoError(t, r.SetReadDeadline(time.Now().Add(30*time.Second)))
	n, err := io.Copy(io.Discard, r)
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, child.Process.Signal(syscall.Signal(0)), "the child should still be running")
}
