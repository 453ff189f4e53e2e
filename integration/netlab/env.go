package netlab

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Env is a TB for programs that are not tests (a demo lab, a benchmark): it
// owns a directory for the run's files and a stack of clean-up functions.
// Labs, processes and RabbitMQ nodes register their clean-ups with it as
// they would with a test; Close runs them. Its methods may be called from
// several goroutines; Close runs the stack once, last registered first.
type Env struct {
	// Dir is the run's directory (made by NewEnv).
	Dir string
	// Keep leaves Dir in place after Close (for its logs).
	Keep bool

	logf func(format string, args ...any)

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	tmpN     int
	done     bool
}

// NewEnv makes a run directory under the system's temp directory, its name
// starting with prefix. logf receives the harness's messages.
func NewEnv(prefix string, keep bool, logf func(format string, args ...any)) (*Env, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, fmt.Errorf("creating run directory: %w", err)
	}
	return &Env{Dir: dir, Keep: keep, logf: logf}, nil
}

// Helper implements TB; it does nothing.
func (e *Env) Helper() {}

// Logf implements TB: harness messages go to the Env's logf.
func (e *Env) Logf(format string, args ...any) { e.logf("netlab: "+format, args...) }

// Cleanup implements TB: f runs when Close does.
func (e *Env) Cleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		// Registered after Close ran (a late goroutine): run it now.
		go f()
		return
	}
	e.cleanups = append(e.cleanups, f)
}

// Failed implements TB: true once Fail was called. A Lab then logs the
// last lines of every process's output when it closes.
func (e *Env) Failed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

// Fail marks the run as failed.
func (e *Env) Fail() {
	e.mu.Lock()
	e.failed = true
	e.mu.Unlock()
}

// TempDir implements TB: a new directory inside Dir.
func (e *Env) TempDir() string {
	e.mu.Lock()
	e.tmpN++
	n := e.tmpN
	e.mu.Unlock()
	d := filepath.Join(e.Dir, fmt.Sprintf("tmp%d", n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		e.logf("creating %s: %v", d, err)
	}
	return d
}

// Close runs every registered clean-up, last first, then removes Dir
// unless Keep is set. It is safe to call more than once.
func (e *Env) Close() {
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
	if e.Keep {
		e.logf("files of the run kept in %s", e.Dir)
		return
	}
	if err := os.RemoveAll(e.Dir); err != nil {
		e.logf("removing %s: %v", e.Dir, err)
	}
}
