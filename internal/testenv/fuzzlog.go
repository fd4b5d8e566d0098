package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// EnvFuzzLogDir names a directory where each `go test -fuzz` worker process
// writes its output. Go discards a worker's output, F's messages included, so
// a worker whose setup fails (a stack that does not start) shows only
// "fuzzing process terminated without fuzzing: EOF"; scripts/fuzz.sh sets
// this and prints the logs when a run fails.
const EnvFuzzLogDir = "CSPSYNC_FUZZ_LOG_DIR"

var fuzzWorker = slices.Contains(os.Args, "-test.fuzzworker")

func init() {
	dir := os.Getenv(EnvFuzzLogDir)
	if dir == "" || !fuzzWorker {
		return
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.log", os.Getpid())))
	if err != nil {
		return
	}
	_ = syscall.Dup3(int(f.Fd()), 1, 0)
	_ = syscall.Dup3(int(f.Fd()), 2, 0)
}

// FuzzSetup is the testing.TB a fuzz target's setup reports through: in a
// fuzz worker process it also writes its messages to stderr, which Go would
// otherwise discard.
func FuzzSetup(f *testing.F) testing.TB {
	if !fuzzWorker {
		return f
	}
	return echoTB{f}
}

type echoTB struct{ testing.TB }

func (e echoTB) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	e.TB.Errorf(format, args...)
}

func (e echoTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	e.TB.Fatalf(format, args...)
}

func (e echoTB) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	e.TB.Fatal(args...)
}

func (e echoTB) Error(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	e.TB.Error(args...)
}
