package notify

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// Event is one state change of an instance, the input of Notify.
type Event struct {
	// Kind selects the hook: the state entered (Stop when the instance
	// stops).
	Kind Kind
	// Prev is the state left, RMQLB_PREV_STATE (INIT, BACKUP, MASTER,
	// FAULT).
	Prev string
	// Reason says why the state changed, RMQLB_REASON.
	Reason string
	// VIPs are the instance's virtual addresses, RMQLB_VIPS.
	VIPs []netip.Prefix
	// Priority is the instance's effective priority at the change,
	// RMQLB_PRIORITY (keepalived passes it to its notify script as the
	// last argument).
	Priority int
}

// Result is the outcome of a hook's run, the label result of
// rmqlb_notify_runs_total.
type Result string

// Results.
const (
	// ResultOK: the hook exited with status 0.
	ResultOK Result = "ok"
	// ResultFailed: it exited with another status, or was killed by a
	// signal it did not get from the runner.
	ResultFailed Result = "failed"
	// ResultTimeout: it had not finished at its timeout; its process
	// group was killed.
	ResultTimeout Result = "timeout"
	// ResultError: it could not be started, or was not, being unsafe to
	// run (CheckSafe).
	ResultError Result = "error"
	// ResultDropped: it was not run, the queue being full (or the runner
	// stopped).
	ResultDropped Result = "dropped"
)

// Options are the collaborators of a Runner. Every field is optional.
type Options struct {
	// Logger gets a line per run, the hook's output and the drops. Nil
	// means zap.NewNop().
	Logger *zap.Logger
	// Clock times the runs (timeout and duration). Nil means the real
	// clock.
	Clock clock.Clock
	// Registerer receives rmqlb_notify_runs_total and
	// rmqlb_notify_hook_unsafe, labelled vrrp_instance=the instance's
	// name. Nil means no metrics.
	Registerer prometheus.Registerer
	// Env is the environment the hooks inherit, to which the RMQLB_
	// variables are added. Nil means the daemon's (os.Environ when
	// NewRunner is called) without the variables by which the service
	// manager addresses the daemon's own process (ServiceManagerVars).
	Env []string
	// QueueLen is how many state changes may wait for their hooks. 0
	// means DefaultQueueLen.
	QueueLen int
}

// RunInfo describes one finished run.
type RunInfo struct {
	// State is the hook's kind as in RMQLB_STATE.
	State string `json:"state"`
	// Result is its outcome; Error says why when it is not ok.
	Result Result `json:"result"`
	Error  string `json:"error,omitempty"`
	// Started is when it started, Duration how long it ran.
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
}

// Snapshot is the state of an instance's hooks, for status.
type Snapshot struct {
	// Configured lists the hooks configured now, by key (master,
	// backup, fault, stop).
	Configured []string `json:"configured"`
	// Runs counts the hooks run (started, or tried and failed to start).
	Runs uint64 `json:"runs"`
	// Failures counts the runs that were not ok (failed, timeout, error).
	Failures uint64 `json:"failures"`
	// Dropped counts the state changes whose hook was not run because the
	// queue was full or Run had returned.
	Dropped uint64 `json:"dropped"`
	// Queued is the number of hooks waiting now, Running whether one runs.
	Queued  int  `json:"queued"`
	Running bool `json:"running"`
	// LastError is the error of the last run that was not ok, and
	// LastErrorAt when that run started; empty and zero if none.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Last is the last finished run; nil before any.
	Last *RunInfo `json:"last,omitempty"`
}

// job is one queued hook: the event and the command as configured when
// the state changed.
type job struct {
	ev      Event
	argv    []string
	timeout time.Duration
	test    *testJob // set for an operator's test run (Test)
}

// Runner runs the notify hooks of one VRRP instance, in order, one at a
// time. Create it with NewRunner and run it with Run.
//
// Run owns the runner's goroutine and the hooks' processes and must be
// called at most once. Notify, SetConfig, Test and Snapshot are safe from
// any goroutine at any time, before, during and after Run; Notify never
// blocks, Test waits for its run (which needs Run).
type Runner struct {
	name    string
	log     *zap.Logger
	clock   clock.Clock
	env     []string
	max     int
	owners  []int // TrustedOwners, at NewRunner
	metrics *metrics
	wake    chan struct{} // cap 1: a job was queued

	mu       sync.Mutex // guards the fields below
	cfg      Config
	queue    []job
	closed   bool // Run has returned or is running its last jobs
	started  bool
	dropping bool // the last Notify dropped its job (log once per run of drops)
	snap     Snapshot
}

// ServiceManagerVars are the variables by which systemd addresses the
// daemon's own process: its notification socket, its watchdog and the
// sockets it passed. A hook never inherits them from the daemon: with
// them a hook could speak for the daemon (READY=1 or WATCHDOG=1 under
// NotifyAccess=all) or take the daemon's sockets for its own.
var ServiceManagerVars = []string{"NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}

// NewRunner validates cfg and returns a Runner for the instance named
// name. Nothing runs before Run.
func NewRunner(name string, cfg Config, opt Options) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("checking notify hooks of %q: %w", name, err)
	}
	r := &Runner{
		name:   name,
		log:    opt.Logger,
		clock:  opt.Clock,
		env:    slices.Clone(opt.Env),
		max:    opt.QueueLen,
		wake:   make(chan struct{}, 1),
		cfg:    cfg.clone(),
		owners: TrustedOwners(),
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	r.log = r.log.With(zap.String("vrrp_instance", name))
	if r.clock == nil {
		r.clock = clock.Real{}
	}
	if opt.Env == nil {
		r.env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			return slices.Contains(ServiceManagerVars, k)
		})
	}
	if r.max <= 0 {
		r.max = DefaultQueueLen
	}
	var err error
	if r.metrics, err = newMetrics(opt.Registerer, name); err != nil {
		return nil, fmt.Errorf("registering notify metrics of %q: %w", name, err)
	}
	if opt.Registerer != nil {
		if err := opt.Registerer.Register(newUnsafeCollector(r)); err != nil {
			return nil, fmt.Errorf("registering notify metrics of %q: %w", name, err)
		}
	}
	return r, nil
}

// clone returns a deep copy of c.
func (c Config) clone() Config {
	c.Master, c.Backup = slices.Clone(c.Master), slices.Clone(c.Backup)
	c.Fault, c.Stop = slices.Clone(c.Fault), slices.Clone(c.Stop)
	return c
}

// SetConfig replaces the hooks (a reload). State changes already queued
// run the hooks configured when they happened.
func (r *Runner) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("checking notify hooks of %q: %w", r.name, err)
	}
	r.mu.Lock()
	r.cfg = cfg.clone()
	r.mu.Unlock()
	return nil
}

// Notify queues the hook of ev.Kind, if one is configured, and returns at
// once. When the queue is full, ev takes the place of the last change
// still waiting, whose hook is dropped and counted: the hook of the state
// the instance is in now always runs, last. When Run has stopped, ev's
// hook is dropped and counted.
func (r *Runner) Notify(ev Event) {
	r.mu.Lock()
	argv := r.cfg.Argv(ev.Kind)
	if argv == nil {
		r.mu.Unlock()
		return
	}
	ev.VIPs = slices.Clone(ev.VIPs)
	j := job{ev: ev, argv: argv, timeout: r.cfg.timeout()}
	if !r.closed && len(r.queue) >= r.max && r.queue[len(r.queue)-1].test != nil {
		// An operator's test run waits last: it gives way, uncounted.
		last := &r.queue[len(r.queue)-1]
		last.test.finish(last.argv, RunInfo{State: last.ev.Kind.String(), Result: ResultDropped,
			Error: "not run: a state change took its place in the full queue"})
		*last = j
		r.mu.Unlock()
		return
	}
	if r.closed || len(r.queue) >= r.max {
		dropped := ev.Kind
		if !r.closed {
			last := &r.queue[len(r.queue)-1]
			dropped = last.ev.Kind
			*last = j
		}
		r.snap.Dropped++
		first, closed := !r.dropping, r.closed
		r.dropping = true
		r.mu.Unlock()
		r.metrics.count(dropped, ResultDropped)
		lvl := zap.DebugLevel
		if first {
			lvl = zap.WarnLevel
		}
		why := "too many state changes wait for their hooks"
		if closed {
			why = "the hooks have stopped"
		}
		r.log.Log(lvl, "dropping notify hook (further drops in a row are logged at debug level)", zap.String("why", why),
			zap.Stringer("state", dropped), zap.Int("queue", r.max))
		return
	}
	r.dropping = false
	r.queue = append(r.queue, j)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Snapshot returns the counters and the last runs.
func (r *Runner) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap
	s.Configured = nil
	for _, k := range Kinds {
		if r.cfg.Argv(k) != nil {
			s.Configured = append(s.Configured, k.Key())
		}
	}
	s.Queued = len(r.queue)
	if s.Last != nil {
		last := *s.Last
		s.Last = &last
	}
	return s
}

// Run runs the queued hooks, in order, until ctx is done; then it runs
// the hooks still queued (each bounded by its timeout: the stop hook of
// the instance's last state change is usually one of them), drops those
// notified later, and returns nil. A hook's run is never cut short by ctx.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("running notify hooks: Run called twice")
	}
	r.started = true
	r.mu.Unlock()
	for {
		if j, ok := r.next(false); ok {
			r.run(j)
			continue
		}
		select {
		case <-r.wake:
		case <-ctx.Done():
			for {
				j, ok := r.next(true)
				if !ok {
					return nil
				}
				r.run(j)
			}
		}
	}
}

// next takes the oldest queued job and marks a run as going on; ok is
// false when the queue is empty. With closing set, an empty queue closes
// the runner for good.
func (r *Runner) next(closing bool) (j job, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		r.closed = r.closed || closing
		return job{}, false
	}
	j = r.queue[0]
	r.queue[0] = job{}
	r.queue = r.queue[1:]
	r.snap.Running = true
	return j, true
}

// run runs one job and records its outcome; an operator's test run's is
// sent to its caller instead, and counted nowhere.
func (r *Runner) run(j job) {
	log := r.log.With(zap.Stringer("state", j.ev.Kind))
	what := "notify hook"
	if j.test != nil {
		log, what = log.With(zap.Bool("test", true)), "notify hook test"
	}
	log.Info("running "+what, zap.Strings("argv", j.argv), zap.String("prev_state", j.ev.Prev))
	start := r.clock.Now()
	res, err := r.execute(j, log)
	info := RunInfo{State: j.ev.Kind.String(), Result: res, Started: start, Duration: r.clock.Now().Sub(start)}
	if err != nil {
		info.Error = err.Error()
	}
	r.mu.Lock()
	r.snap.Running = false
	if j.test == nil {
		r.snap.Runs++
		if err != nil {
			r.snap.Failures++
			r.snap.LastError, r.snap.LastErrorAt = info.Error, start
		}
		r.snap.Last = &info
	}
	r.mu.Unlock()
	if j.test == nil {
		r.metrics.count(j.ev.Kind, res)
	}
	if err != nil {
		log.Warn(what+" failed", zap.String("result", string(res)), zap.Duration("took", info.Duration), zap.Error(err))
	} else {
		log.Info(what+" done", zap.Duration("took", info.Duration))
	}
	if j.test != nil {
		j.test.finish(j.argv, info)
	}
}

// environ returns the environment of ev's hook: the inherited one and the
// RMQLB_ variables (which replace inherited ones of the same name).
func (r *Runner) environ(ev Event) []string {
	vips := make([]string, len(ev.VIPs))
	for i, p := range ev.VIPs {
		vips[i] = p.String()
	}
	return append(slices.Clip(r.env),
		"RMQLB_INSTANCE="+r.name,
		"RMQLB_STATE="+ev.Kind.String(),
		"RMQLB_PREV_STATE="+ev.Prev,
		"RMQLB_VIPS="+strings.Join(vips, " "),
		"RMQLB_REASON="+ev.Reason,
		"RMQLB_PRIORITY="+strconv.Itoa(ev.Priority),
	)
}
