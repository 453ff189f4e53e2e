package vrrpsoak

import (
	"os"
	"sync"
)

// Runner is the netlab.TB of a command (not a test) that runs soaks: it
// logs through logf, keeps the cleanups the labs register and runs them,
// last first, on Close.
type Runner struct {
	logf func(format string, args ...any)
	// Keep leaves the temporary directories (the labs' logs) in place
	// on Close, which logs where they are. Set it before the Runner is
	// used; it is not guarded.
	Keep bool

	mu       sync.Mutex // guards the fields below
	cleanups []func()
	dirs     []string
	failed   bool
}

// NewRunner returns a Runner that logs through logf.
func NewRunner(logf func(format string, args ...any)) *Runner {
	return &Runner{logf: logf}
}

// Helper implements netlab.TB.
func (r *Runner) Helper() {}

// Logf implements netlab.TB.
func (r *Runner) Logf(format string, args ...any) { r.logf(format, args...) }

// Cleanup implements netlab.TB.
func (r *Runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// Failed implements netlab.TB: true once Fail was called. A failed run's
// labs log the tail of every process's output when they close.
func (r *Runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Fail marks the run as failed.
func (r *Runner) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}

// TempDir implements netlab.TB: a new directory, removed by Close. If
// none can be made it logs why and returns the system's temporary
// directory itself.
func (r *Runner) TempDir() string {
	d, err := os.MkdirTemp("", "vrrp-soak-")
	if err != nil {
		r.logf("creating a temporary directory: %v; using %s", err, os.TempDir())
		return os.TempDir()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dirs = append(r.dirs, d)
	return d
}

// Close runs the cleanups, last registered first, and removes the
// temporary directories (or, with Keep, logs where they are).
func (r *Runner) Close() {
	r.mu.Lock()
	cs, ds := r.cleanups, r.dirs
	r.cleanups, r.dirs = nil, nil
	r.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	for _, d := range ds {
		if r.Keep {
			r.logf("kept %s", d)
			continue
		}
		os.RemoveAll(d)
	}
}
