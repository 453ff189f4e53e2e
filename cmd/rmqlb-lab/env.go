package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// runEnv owns the resources of one lab run: a directory for its files and a
// stack of clean-up functions. It implements netlab.TB, so netlab registers
// its clean-ups here as it would with a test. Its methods may be called from
// several goroutines; cleanup runs the stack once, last registered first.
type runEnv struct {
	dir  string
	keep bool
	out  *timeline

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	tmpN     int
	done     bool
}

// newRunEnv makes the run's directory under the system temp directory.
func newRunEnv(out *timeline, keep bool) (*runEnv, error) {
	dir, err := os.MkdirTemp("", "rmqlb-lab-")
	if err != nil {
		return nil, fmt.Errorf("creating run directory: %w", err)
	}
	return &runEnv{dir: dir, keep: keep, out: out}, nil
}

// Helper implements netlab.TB; it does nothing.
func (e *runEnv) Helper() {}

// Logf implements netlab.TB: harness messages go to the timeline.
func (e *runEnv) Logf(format string, args ...any) { e.out.Logf("netlab: "+format, args...) }

// Cleanup implements netlab.TB: f runs at the end of the run.
func (e *runEnv) Cleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		// Registered after the clean-up ran (a late goroutine): run it now.
		go f()
		return
	}
	e.cleanups = append(e.cleanups, f)
}

// Failed implements netlab.TB: true once fail was called. netlab then logs
// the last lines of every process's output when the lab closes.
func (e *runEnv) Failed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

// fail marks the run as failed.
func (e *runEnv) fail() {
	e.mu.Lock()
	e.failed = true
	e.mu.Unlock()
}

// TempDir implements netlab.TB: a new directory inside the run's directory.
func (e *runEnv) TempDir() string {
	e.mu.Lock()
	e.tmpN++
	n := e.tmpN
	e.mu.Unlock()
	d := filepath.Join(e.dir, fmt.Sprintf("tmp%d", n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		e.out.Logf("creating %s: %v", d, err)
	}
	return d
}

// cleanup runs every registered function, last first, then removes the run
// directory unless keep is set. It is safe to call more than once.
func (e *runEnv) cleanup() {
	e.mu.Lock()
	if e.done {
		e.mu.Unlock()
		return
	}
	e.done = true
	fs := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	if e.keep {
		e.out.Logf("files of the run kept in %s", e.dir)
		return
	}
	if err := os.RemoveAll(e.dir); err != nil {
		e.out.Logf("removing %s: %v", e.dir, err)
	}
}
