package testenv

import (
	"os"
	"strconv"
	"syscall"
)

// A test process may itself have been started with open descriptors it does
// not own: a `go test -fuzz` worker talks to its coordinator over pipes
// inherited as fds 3 and 4, without close-on-exec. A server a test starts
// (the Temporal dev server, PostgreSQL, a browser) would inherit them, and
// the coordinator, which waits for EOF on those pipes when it stops a worker,
// would then wait for as long as that server lives: `make fuzz` hung for good
// when a worker was stopped while its Temporal server outlived it. So no
// descriptor this process inherited passes on to its children.
func init() { closeInheritedOnExec() }

func closeInheritedOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return // not Linux: nothing to do that matters here
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// childAttr runs a server the test starts in its own process group (so Stop
// can signal the whole group) and kills it when the test process dies
// without its cleanups, as a fuzz worker stopped by its coordinator does.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
