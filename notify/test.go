package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// TestRun is the outcome of an operator's test run of a hook (Test).
type TestRun struct {
	// Argv is the command run.
	Argv []string `json:"argv"`
	RunInfo
	// Output are the lines the hook wrote, as logged (at most
	// MaxOutputLines, each cut at MaxLineLen bytes), each prefixed with
	// its stream: "stdout: ..." or "stderr: ...".
	Output []string `json:"output,omitempty"`
}

// OK reports whether the hook exited with status 0.
func (t TestRun) OK() bool { return t.Result == ResultOK }

// ErrNoHook is Test's error for a state without a hook.
var ErrNoHook = errors.New("no hook configured for this state")

// testJob is what a test run's job carries: where its output goes and
// where its outcome is sent.
type testJob struct {
	done chan TestRun // buffered: the runner never waits on it

	mu    sync.Mutex // the two output readers
	lines []string
}

// keep records one line of the hook's output.
func (t *testJob) keep(stream, line string) {
	t.mu.Lock()
	t.lines = append(t.lines, stream+": "+line)
	t.mu.Unlock()
}

// Test runs the hook of ev.Kind once for the operator (rmqlb notify), as
// the instance's own runs go: queued behind the changes waiting for their
// hooks, with the same environment (ev's RMQLB_ variables), working
// directory, timeout and safety check (CheckSafe). It waits until the run
// has finished, and returns its outcome and output, or until ctx is done
// (the run still happens; its outcome is logged). A test run is logged as
// one but not counted in Snapshot or the metrics: the alerts on failed
// hooks are about the instance's state changes. Test fails at once with
// ErrNoHook when ev.Kind has no hook, and when the queue is full or Run
// has stopped: it never takes a state change's place.
func (r *Runner) Test(ctx context.Context, ev Event) (TestRun, error) {
	r.mu.Lock()
	argv := r.cfg.Argv(ev.Kind)
	switch {
	case argv == nil:
		r.mu.Unlock()
		return TestRun{}, fmt.Errorf("testing the %s hook of %q: %w", ev.Kind.Key(), r.name, ErrNoHook)
	case r.closed:
		r.mu.Unlock()
		return TestRun{}, fmt.Errorf("testing the %s hook of %q: the hooks have stopped", ev.Kind.Key(), r.name)
	case len(r.queue) >= r.max:
		r.mu.Unlock()
		return TestRun{}, fmt.Errorf("testing the %s hook of %q: %d state changes wait for their hooks: try again later", ev.Kind.Key(), r.name, len(r.queue))
	}
	ev.VIPs = slices.Clone(ev.VIPs)
	t := &testJob{done: make(chan TestRun, 1)}
	r.queue = append(r.queue, job{ev: ev, argv: argv, timeout: r.cfg.timeout(), test: t})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	select {
	case res := <-t.done:
		return res, nil
	case <-ctx.Done():
		return TestRun{}, fmt.Errorf("testing the %s hook of %q: %w (the run goes on: its outcome is logged)", ev.Kind.Key(), r.name, ctx.Err())
	}
}

// finish sends the outcome of the run of argv, with the output kept.
func (t *testJob) finish(argv []string, info RunInfo) {
	t.mu.Lock()
	lines := slices.Clone(t.lines)
	t.mu.Unlock()
	t.done <- TestRun{Argv: slices.Clone(argv), RunInfo: info, Output: lines}
}
