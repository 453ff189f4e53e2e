package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binPath string
	binDir  string
	binErr  error
)

// rmqlbBinary builds ./cmd/rmqlb once per test binary and returns its path.
// A tree without cmd/rmqlb skips the test; one where it does not build fails
// it.
func rmqlbBinary(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	if _, err := os.Stat(filepath.Join(root, "cmd", "rmqlb")); err != nil {
		t.Skipf("no cmd/rmqlb in this tree: %v", err)
	}
	binOnce.Do(func() {
		if p := os.Getenv("RMQLB_BIN"); p != "" {
			binPath = p
			return
		}
		binDir, binErr = os.MkdirTemp("", "rmqlb-it-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "rmqlb")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/rmqlb")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = &buildError{out: string(out), err: err}
		}
	})
	if binErr != nil {
		t.Fatalf("building rmqlb: %v", binErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func cleanupBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}
