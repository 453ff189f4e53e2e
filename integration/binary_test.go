package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// builtBinary is a program of this module built once per test binary.
type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var (
	binMu    sync.Mutex
	binDir   string
	binaries = map[string]*builtBinary{}
)

// rmqlbBinary builds ./cmd/rmqlb once per test binary and returns its path
// (RMQLB_BIN, when set, instead). A tree without cmd/rmqlb skips the test;
// one where it does not build fails it.
func rmqlbBinary(t *testing.T) string {
	t.Helper()
	return goBinary(t, "cmd/rmqlb", os.Getenv("RMQLB_BIN"))
}

// goBinary builds the module's package pkg ("cmd/NAME") once per test
// binary into a directory that cleanupBinary removes, and returns its path,
// or prebuilt when that is not empty.
func goBinary(t *testing.T, pkg, prebuilt string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
		t.Skipf("no %s in this tree: %v", pkg, err)
	}
	binMu.Lock()
	b := binaries[pkg]
	if b == nil {
		b = &builtBinary{}
		binaries[pkg] = b
	}
	binMu.Unlock()
	b.once.Do(func() {
		if prebuilt != "" {
			b.path = prebuilt
			return
		}
		binMu.Lock()
		if binDir == "" {
			binDir, b.err = os.MkdirTemp("", "rmqlb-it-")
		}
		dir := binDir
		binMu.Unlock()
		if b.err != nil {
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", b.path, "./"+pkg)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = &buildError{out: string(out), err: err}
		}
	})
	if b.err != nil {
		t.Fatalf("building %s: %v", pkg, b.err)
	}
	return b.path
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
