package healthcheck

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestSchedulerSequences runs the real Scheduler over the fake clock through
// random sequences of check results, latencies, reloads and operator
// actions, and checks it after every step against a small reference model
// written from the documentation (the package documentation, CheckConfig's
// and Scheduler's doc comments, README.md's check section), not from the
// code:
//
//   - A backend starts DOWN, "not checked yet" (UP when added in service);
//     its first conclusive result sets its health at once; after that fall
//     consecutive failures take it DOWN and rise consecutive passes bring it
//     back. A warning, or a resource alarm under on_alarm degraded, makes a
//     passing backend DEGRADED; under on_alarm down an alarm fails the
//     check. An inconclusive check changes nothing but the counts.
//   - The first check starts at a random part of start_jitter (asked of
//     Options.Jitter with start_jitter as its bound) after Run or the Add;
//     each next one interval after the start of the previous one, or when
//     it ended if it took longer: fastinterval while the state is changing,
//     downinterval while DOWN, interval otherwise. No check starts earlier,
//     none later (on the fake clock), none of a backend whose check runs,
//     none of a removed backend after Remove returned, none with a checker
//     that was replaced or closed.
//   - Every check's context has the deadline start + timeout on the
//     scheduler's clock, is not done before it, and is done, with
//     context.DeadlineExceeded, when the clock reaches it: a check that
//     hangs ends then, after its whole timeout, however long in real time.
//   - With Options.Traffic (drawn for most sequences), a failed check that
//     timed out (the checker's own timeout, a hang, or any error that comes
//     with the deadline) is asked about, once, for the second half of its
//     timeout, and nothing else is. Such a busy timeout of a serving
//     backend that sends to its clients counts neither as a failure nor as
//     a pass (result "busy") until the first of a streak of them is
//     busy_grace old (default 5 s, negative: never); past that it is a
//     failure. A pass or DOWN ends the streak, whose start and count the
//     status shows. A first result excused so is still one event.
//   - A reload (Update) keeps the state; the next check keeps its due time
//     unless the new schedule (interval after the last start) is earlier.
//     A check running at an Update counts; one running at a Remove does not.
//   - Every change of health, every first result and every operator change
//     is one event, in order, to every subscriber (Forward to a Sink and a
//     Tracker, whose totals follow); nothing else is. A subscriber added
//     while Run runs first gets the current state of every backend; one
//     removed gets nothing more.
//   - Snapshot, Names, Checked and the metrics (checks by result, latency
//     count and sum) agree with the model; a removed backend has no series.
//   - After Run returns every checker was closed once and no goroutine is
//     left.
//
// The fake checkers answer when the test says, on the fake clock; one that
// hangs, or whose answer comes with its deadline, returns once the
// scheduler's deadline ends its context, as a checker that honours its
// deadline does. Slow start is not drawn: its weight ramp (slow_start),
// which runs on the scheduler's own timer and not on the checks'
// deadlines, is a model of its own, which TestMachineSlowStart and
// TestSchedulerSlowStart check.
//
// Each sequence's seed is logged on failure; -hsched.seed replays one with
// its trace, -hsched.runs and -hsched.steps run more and longer ones:
//
//	go test ./healthcheck -run TestSchedulerSequences -hsched.runs=5000
//	go test ./healthcheck -run TestSchedulerSequences -hsched.seed=17
var (
	hsSeed  = flag.Uint64("hsched.seed", 0, "run the scheduler sequence of this seed only, with its trace")
	hsFirst = flag.Uint64("hsched.first", 1, "first seed of the scheduler sequences")
	hsRuns  = flag.Int("hsched.runs", 30, "scheduler sequences to run")
	hsSteps = flag.Int("hsched.steps", 150, "steps (instants of the fake clock) per scheduler sequence")
	hsTail  = flag.Int("hsched.tail", 120, "lines of a failing sequence's trace printed (0: all)")
)

func TestSchedulerSequences(t *testing.T) {
	defer goleak.VerifyNone(t)
	if *hsSeed != 0 {
		res := runHSSequence(*hsSeed, *hsSteps)
		t.Logf("seed %d trace:\n%s", *hsSeed, strings.Join(res.trace, "\n"))
		if res.err != "" {
			t.Fatalf("seed %d: %s", *hsSeed, res.err)
		}
		t.Logf("stats: %s", res.stats)
		return
	}
	total := hsStats{}
	for i := range *hsRuns {
		seed := *hsFirst + uint64(i)
		res := runHSSequence(seed, *hsSteps)
		total.add(res.stats)
		if res.err != "" {
			tr := res.trace
			if n := *hsTail; n > 0 && len(tr) > n {
				tr = append([]string{fmt.Sprintf("(%d lines before)", len(tr)-n)}, tr[len(tr)-n:]...)
			}
			t.Fatalf("seed %d: %s (replay with -hsched.seed=%d)\ntrace:\n%s", seed, res.err, seed, strings.Join(tr, "\n"))
		}
	}
	t.Logf("seeds %d..%d: %s", *hsFirst, *hsFirst+uint64(*hsRuns)-1, total)
}

// hsStats counts what the sequences exercised.
type hsStats struct {
	seqs, steps, checks, changes, events, reloads, adds, removes, updates, admins, abandoned int
	subscribes, unsubscribes                                                                 int
	asked, excused, atDeadline                                                               int
	outcomes                                                                                 [hoCount]int
}

func (s *hsStats) add(o hsStats) {
	s.seqs += o.seqs
	s.steps += o.steps
	s.checks += o.checks
	s.changes += o.changes
	s.events += o.events
	s.reloads += o.reloads
	s.adds += o.adds
	s.removes += o.removes
	s.updates += o.updates
	s.admins += o.admins
	s.abandoned += o.abandoned
	s.subscribes += o.subscribes
	s.unsubscribes += o.unsubscribes
	s.asked += o.asked
	s.excused += o.excused
	s.atDeadline += o.atDeadline
	for i := range s.outcomes {
		s.outcomes[i] += o.outcomes[i]
	}
}

func (s hsStats) String() string {
	var outs []string
	for i, n := range s.outcomes {
		outs = append(outs, fmt.Sprintf("%s=%d", hsOutcome(i), n))
	}
	return fmt.Sprintf("%d sequences, %d steps, %d checks (%s), %d state changes, %d events, %d reloads (%d adds, %d removes, %d updates), %d operator actions, %d checks abandoned by a removal, %d subscribers added and %d removed while running, %d checks ended at their deadline, %d timeouts asked about traffic, %d excused as busy",
		s.seqs, s.steps, s.checks, strings.Join(outs, " "), s.changes, s.events, s.reloads, s.adds, s.removes, s.updates, s.admins, s.abandoned, s.subscribes, s.unsubscribes, s.atDeadline, s.asked, s.excused)
}

// hsOutcome is what a fake check returns.
type hsOutcome uint8

const (
	hoPass hsOutcome = iota
	hoWarn
	hoAlarm
	hoAlarmWarn
	hoFail
	hoTimeout // the checker's own timeout error, before the deadline
	hoHang    // no answer: the check takes its whole timeout
	hoInconclusive
	hoCount
)

func (o hsOutcome) String() string {
	return [...]string{"pass", "warn", "alarm", "alarm+warn", "fail", "timeout", "hang", "inconclusive"}[o]
}

// result is the Result a checker returns for o.
func (o hsOutcome) result() Result {
	switch o {
	case hoWarn:
		return Result{Warning: "alarm probe failed: access refused"}
	case hoAlarm:
		return Result{Alarm: "publishers blocked: memory"}
	case hoAlarmWarn:
		return Result{Alarm: "publishers blocked: disk", Warning: "alarm probe failed: access refused"}
	case hoFail:
		return Result{Err: errors.New("connecting: connection refused")}
	case hoTimeout:
		return Result{Err: errTimedOut}
	case hoHang:
		return Result{Err: fmt.Errorf("reading Connection.Start: %w", context.DeadlineExceeded)}
	case hoInconclusive:
		return Failed(fmt.Errorf("socket: %w", syscall.EMFILE))
	}
	return Result{Info: "RabbitMQ 3.13"}
}

// hsVerdict is what the documentation says a check's outcome is for the
// backend under on_alarm: a pass (degraded or not), a failure or nothing
// (inconclusive), and the result label of rmqlb_healthcheck_checks_total.
func hsVerdict(o hsOutcome, onAlarm AlarmAction) (pass, degraded, inconclusive bool, label string) {
	switch o {
	case hoPass:
		return true, false, false, "pass"
	case hoWarn:
		return true, true, false, "warn"
	case hoAlarm, hoAlarmWarn:
		if onAlarm == AlarmDown {
			return false, false, false, "fail"
		}
		return true, true, false, "alarm"
	case hoInconclusive:
		return false, false, true, "inconclusive"
	}
	return false, false, false, "fail"
}

// hsCall is one call of a fake checker's Check, waiting for the driver's
// reply.
type hsCall struct {
	chk         *hsChecker
	ctx         context.Context
	at          time.Time // the fake clock when Check was called
	hasDeadline bool      // ctx had a deadline
	deadline    time.Time // ctx's deadline
	reply       chan hsReply
}

// hsReply is how a check ends: with r, or, at its deadline, once ctx is
// done (a checker that honours its deadline: a hanging check returns its
// deadline's error, a failure that comes with the deadline is taken for a
// timeout).
type hsReply struct {
	r          Result
	atDeadline bool
	hang       bool
}

// hsChecker is a fake Checker whose results the driver gives, at the fake
// times it chooses. It records closes and misuse.
type hsChecker struct {
	name  string
	gen   int
	clk   *clock.Fake
	calls chan<- *hsCall
	stop  <-chan struct{}

	mu         sync.Mutex
	closed     int
	running    int
	overlap    bool   // two checks at once
	afterClose bool   // a check started after Close
	misdone    string // how a check's context was done when it should not have been, or not done
}

func (c *hsChecker) Check(ctx context.Context) Result {
	c.mu.Lock()
	c.running++
	c.overlap = c.overlap || c.running > 1
	c.afterClose = c.afterClose || c.closed > 0
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
	}()
	dl, ok := ctx.Deadline()
	call := &hsCall{chk: c, ctx: ctx, at: c.clk.Now(), hasDeadline: ok, deadline: dl, reply: make(chan hsReply, 1)}
	select {
	case c.calls <- call:
	case <-c.stop:
		return Result{Err: errors.New("stopped")}
	}
	var rep hsReply
	select {
	case rep = <-call.reply:
	case <-c.stop:
		return Result{Err: errors.New("stopped")}
	}
	if !rep.atDeadline {
		return rep.r // the driver saw ctx not done when it replied
	}
	// The fake clock reached the deadline: the scheduler's timer fired,
	// and the context is done at once (in real time).
	select {
	case <-ctx.Done():
	case <-c.stop:
		return Result{Err: errors.New("stopped")}
	case <-time.After(10 * time.Second):
		c.misdo(fmt.Sprintf("check started at %v: context not done at its deadline %v", call.at, c.clk.Now()))
		return Result{Err: errors.New("not ended by its deadline")}
	}
	if err := ctx.Err(); err != context.DeadlineExceeded && !isClosed(c.stop) {
		c.misdo(fmt.Sprintf("check started at %v: context done at its deadline with %v", call.at, err))
	}
	if rep.hang {
		return Result{Err: fmt.Errorf("reading Connection.Start: %w", ctx.Err())}
	}
	return rep.r
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (c *hsChecker) misdo(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.misdone == "" {
		c.misdone = what
	}
}

func (c *hsChecker) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed++
	return nil
}

func (c *hsChecker) String() string { return fmt.Sprintf("%s#%d", c.name, c.gen) }

// hsDefaults applies the documented defaults (CheckConfig's field comments,
// README.md's check table): interval 2 s; fastinterval and downinterval
// the interval; timeout 1 s or the interval when shorter; rise 2; fall 3;
// start_jitter the interval (negative: none); busy_grace 5 s (negative:
// none).
func hsDefaults(c CheckConfig) CheckConfig {
	if c.Interval == 0 {
		c.Interval = 2 * time.Second
	}
	if c.FastInterval == 0 {
		c.FastInterval = c.Interval
	}
	if c.DownInterval == 0 {
		c.DownInterval = c.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = min(time.Second, c.Interval)
	}
	if c.Rise == 0 {
		c.Rise = 2
	}
	if c.Fall == 0 {
		c.Fall = 3
	}
	if c.StartJitter == 0 {
		c.StartJitter = c.Interval
	}
	if c.BusyGrace == 0 {
		c.BusyGrace = 5 * time.Second
	}
	return c
}

// hsApply is the effective state of a health under an operator state, as
// the package documentation says: MAINT whatever the health; DRAIN while
// the health serves; the health otherwise.
func hsApply(a backend.Admin, health backend.State) backend.State {
	switch {
	case a == backend.AdminMaint:
		return backend.Maint
	case a == backend.AdminDrain && (health == backend.Up || health == backend.Degraded):
		return backend.Drain
	}
	return health
}

// hsRef is the reference model of one backend.
type hsRef struct {
	name       string
	raw        CheckConfig // as given
	cfg        CheckConfig // with the documented defaults
	chk        *hsChecker
	health     backend.State
	admin      backend.Admin
	conclusive bool // a conclusive result came
	started    bool // a check started: lastStart is set
	lastStart  time.Time
	due        time.Time // next check, when none runs
	passes     int
	failures   int
	run        *hsRun

	checks, fails, inconclusive uint64
	busy                        uint64    // busy checks excused
	busySince                   time.Time // start of the first busy check of the streak; zero: none
	lastCheck                   time.Time
	lastLatency                 time.Duration
	latSum                      time.Duration
	byLabel                     map[string]uint64
	mode                        int // the broker's behaviour, for drawing outcomes
}

func (b *hsRef) state() backend.State { return hsApply(b.admin, b.health) }

// interval is the documented spacing of checks: fastinterval between the
// first failure and fall or the first pass and rise, downinterval while
// DOWN, interval otherwise.
func (b *hsRef) interval() time.Duration {
	switch {
	case b.health == backend.Down && b.passes > 0, b.health != backend.Down && b.failures > 0:
		return b.cfg.FastInterval
	case b.health == backend.Down:
		return b.cfg.DownInterval
	}
	return b.cfg.Interval
}

// hsRun is a check in progress: its fake checker waits for the driver.
type hsRun struct {
	b          *hsRef
	call       *hsCall
	start, end time.Time
	timeout    time.Duration // the check's timeout when it started
	out        hsOutcome
	sending    bool // the backend sends to its clients (Options.Traffic's answer)
	abandoned  bool // its backend was removed
}

// atDeadline reports whether the check ends at its deadline.
func (r *hsRun) atDeadline() bool { return r.end.Equal(r.start.Add(r.timeout)) }

// reply ends the check, at r.end on the fake clock: before the deadline
// the check's context must not be done yet.
func (r *hsRun) reply(w *hsWorld) {
	if err := r.call.ctx.Err(); err != nil && !r.atDeadline() {
		w.fail("check of %v started at %v: context done (%v) before its deadline %v", r.call.chk, r.start.Sub(w.t0), err, r.start.Add(r.timeout).Sub(w.t0))
	}
	r.call.reply <- hsReply{r: r.out.result(), atDeadline: r.atDeadline(), hang: r.out == hoHang}
}

// timedOut reports whether the scheduler takes the check for a timeout,
// and asks Options.Traffic about it: a failure that says a deadline passed
// (the checker's own timeout, a hang) or that came with the deadline.
func (r *hsRun) timedOut() bool {
	return r.out == hoTimeout || r.out == hoHang || r.out == hoFail && r.atDeadline()
}

// hsEv is what the model expects of an event.
type hsEv struct {
	name        string
	at          time.Time
	state, prev backend.State
	health      backend.State
	firstResult bool
	weightOnly  bool
	weight      int
}

func (e hsEv) String() string {
	s := fmt.Sprintf("%s %s->%s health %s at %s", e.name, e.prev, e.state, e.health, e.at.Format("15:04:05.000"))
	if e.firstResult {
		s += " first"
	}
	if e.weightOnly || e.weight != 100 {
		s += fmt.Sprintf(" weight %d only %v", e.weight, e.weightOnly)
	}
	return s
}

func hsEvOf(e Event) hsEv {
	return hsEv{name: e.Backend.Name, at: e.Time, state: e.State, prev: e.Prev, health: e.Health,
		firstResult: e.FirstResult, weightOnly: e.WeightOnly, weight: e.WeightPercent}
}

// hsLate is a subscriber added while Run runs, and maybe removed later.
type hsLate struct {
	log    eventLog
	first  []hsEv // the current state of every backend, when it subscribed
	from   int    // the index in hsWorld.exp of the first event after those
	to     int    // the index at which it was removed; -1: subscribed
	cancel func()
}

// hsWorld is one sequence: the scheduler under test, its fake clock and
// checkers, and the model.
type hsWorld struct {
	r     *rand.Rand
	clk   *clock.Fake
	t0    time.Time
	s     *Scheduler
	reg   *prometheus.Registry
	calls chan *hsCall
	stop  chan struct{}
	gen   int

	jitMax []time.Duration // bounds Jitter was asked for since the last Add
	jitVal []time.Duration

	// traffic: the scheduler has Options.Traffic, which answers from
	// sending (by backend name) and records its questions in asked; the
	// model expects those of expAsked, and allows those of mayAsk: the
	// failures of abandoned checks, which nothing waits for, so that the
	// clock may pass their deadline before the scheduler looks at them.
	traffic  bool
	trafMu   sync.Mutex
	sending  map[string]bool
	asked    map[string][]time.Duration
	expAsked map[string][]time.Duration
	mayAsk   map[string][]time.Duration

	refs      map[string]*hsRef
	order     []string
	abandoned []*hsRun
	checkers  []*hsChecker
	pending   map[string]bool // added before Run, no conclusive result yet
	running   bool            // Run started

	log     eventLog
	sink    *recSink
	tracker *Tracker
	tracked []string
	exp     []hsEv
	late    []*hsLate
	lastEv  map[string]hsEv
	nextAct time.Time
	trace   []string
	err     string
	stats   hsStats
	cancel  context.CancelFunc
	runDone chan error
}

type hsResult struct {
	err   string
	trace []string
	stats hsStats
}

var hsNames = []string{"rmq0", "rmq1", "rmq2", "rmq3", "rmq4", "rmq5"}

func runHSSequence(seed uint64, steps int) hsResult {
	ignore := goleak.IgnoreCurrent()
	w := &hsWorld{
		r:       rand.New(rand.NewPCG(seed, 0x5eed)),
		t0:      time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		calls:   make(chan *hsCall, 256),
		stop:    make(chan struct{}),
		refs:    map[string]*hsRef{},
		pending: map[string]bool{},
		sink:    &recSink{},
		lastEv:  map[string]hsEv{},
	}
	w.clk = clock.NewFake(w.t0)
	w.reg = prometheus.NewPedanticRegistry()
	met, err := NewMetrics(w.reg)
	if err != nil {
		return hsResult{err: err.Error()}
	}
	w.traffic = w.r.IntN(4) > 0
	w.sending, w.asked = map[string]bool{}, map[string][]time.Duration{}
	w.expAsked, w.mayAsk = map[string][]time.Duration{}, map[string][]time.Duration{}
	var traffic func(backend.ID, time.Duration) bool
	if w.traffic {
		traffic = func(id backend.ID, d time.Duration) bool {
			w.trafMu.Lock()
			defer w.trafMu.Unlock()
			w.asked[id.Name] = append(w.asked[id.Name], d)
			return w.sending[id.Name]
		}
	}
	w.s = NewScheduler(Options{Clock: w.clk, Metrics: met, Traffic: traffic, Jitter: func(max time.Duration) time.Duration {
		v := time.Duration(0)
		if max > 0 {
			v = w.grid(0, max-1, time.Millisecond)
		}
		w.jitMax = append(w.jitMax, max)
		w.jitVal = append(w.jitVal, v)
		return v
	}})
	w.stats.seqs = 1
	w.sequence(steps)
	w.finish()
	if w.err == "" {
		if err := goleak.Find(ignore); err != nil {
			w.fail("goroutines left after Run returned: %v", err)
		}
	}
	return hsResult{err: w.err, trace: w.trace, stats: w.stats}
}

func (w *hsWorld) tracef(format string, args ...any) {
	w.trace = append(w.trace, fmt.Sprintf("%8.3fs ", w.clk.Now().Sub(w.t0).Seconds())+fmt.Sprintf(format, args...))
}

func (w *hsWorld) fail(format string, args ...any) {
	if w.err == "" {
		w.err = fmt.Sprintf("at %v: ", w.clk.Now().Sub(w.t0)) + fmt.Sprintf(format, args...)
		w.tracef("FAIL: %s", w.err)
	}
}

// grid draws a duration in [lo, hi] on a grid of step.
func (w *hsWorld) grid(lo, hi, step time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.r.Int64N(int64((hi-lo)/step)+1))*step
}

func (w *hsWorld) pick(ds ...time.Duration) time.Duration { return ds[w.r.IntN(len(ds))] }

// drawConfig draws a valid schedule, zero fields (defaults) included.
func (w *hsWorld) drawConfig() CheckConfig {
	var c CheckConfig
	if w.r.IntN(5) > 0 {
		c.Interval = w.pick(10*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond, 300*time.Millisecond, time.Second, w.grid(10*time.Millisecond, 3*time.Second, 10*time.Millisecond))
	}
	if w.r.IntN(2) == 0 {
		c.FastInterval = w.pick(10*time.Millisecond, 100*time.Millisecond, 200*time.Millisecond, w.grid(10*time.Millisecond, 2*time.Second, 10*time.Millisecond))
	}
	if w.r.IntN(2) == 0 {
		c.DownInterval = w.pick(50*time.Millisecond, time.Second, 3*time.Second, w.grid(10*time.Millisecond, 4*time.Second, 10*time.Millisecond))
	}
	if w.r.IntN(5) > 1 {
		c.Timeout = w.pick(10*time.Millisecond, 100*time.Millisecond, 500*time.Millisecond, time.Second, 3*time.Second, w.grid(10*time.Millisecond, 2*time.Second, 10*time.Millisecond))
	}
	if w.r.IntN(4) > 0 {
		c.Rise = 1 + w.r.IntN(5)
		if w.r.IntN(40) == 0 {
			c.Rise = MaxRiseFall
		}
	}
	if w.r.IntN(4) > 0 {
		c.Fall = 1 + w.r.IntN(5)
		if w.r.IntN(40) == 0 {
			c.Fall = MaxRiseFall
		}
	}
	switch w.r.IntN(4) {
	case 0:
		c.StartJitter = -1
	case 1:
		c.StartJitter = w.grid(10*time.Millisecond, 2*time.Second, 10*time.Millisecond)
	}
	if w.r.IntN(3) == 0 {
		c.OnAlarm = AlarmDown
	}
	switch w.r.IntN(4) {
	case 0:
		c.BusyGrace = -1
	case 1:
		c.BusyGrace = w.pick(10*time.Millisecond, 500*time.Millisecond, w.grid(10*time.Millisecond, 3*time.Second, 10*time.Millisecond))
	}
	return c
}

// mutate changes one to three keys of c, as an edited file does.
func (w *hsWorld) mutate(c CheckConfig) CheckConfig {
	d := w.drawConfig()
	for range 1 + w.r.IntN(3) {
		switch w.r.IntN(9) {
		case 0:
			c.Interval = d.Interval
		case 1:
			c.FastInterval = d.FastInterval
		case 2:
			c.DownInterval = d.DownInterval
		case 3:
			c.Timeout = d.Timeout
		case 4:
			c.Rise = d.Rise
		case 5:
			c.Fall = d.Fall
		case 6:
			c.OnAlarm = d.OnAlarm
		case 7:
			c.StartJitter = d.StartJitter
		case 8:
			c.BusyGrace = d.BusyGrace
		}
	}
	return c
}

func (w *hsWorld) newChecker(name string) *hsChecker {
	w.gen++
	c := &hsChecker{name: name, gen: w.gen, clk: w.clk, calls: w.calls, stop: w.stop}
	w.checkers = append(w.checkers, c)
	return c
}

func (w *hsWorld) expect(e hsEv) {
	w.exp = append(w.exp, e)
	w.lastEv[e.name] = e
}

// add adds backend name, in service or not, before or during Run.
func (w *hsWorld) add(name string, raw CheckConfig, serving bool) {
	chk := w.newChecker(name)
	b := &hsRef{name: name, raw: raw, cfg: hsDefaults(raw), chk: chk, health: backend.Down, byLabel: map[string]uint64{}, mode: w.r.IntN(5)}
	if serving {
		b.health = backend.Up
	}
	w.jitMax, w.jitVal = nil, nil
	var err error
	if serving {
		err = w.s.AddServing(bid(name), raw, chk)
	} else {
		err = w.s.Add(bid(name), raw, chk)
	}
	if err != nil {
		w.fail("adding %s: %v", name, err)
		return
	}
	w.stats.adds++
	// The first check's delay: a random part of start_jitter, asked of Jitter.
	var delay time.Duration
	switch {
	case b.cfg.StartJitter > 0 && (len(w.jitMax) != 1 || w.jitMax[0] != b.cfg.StartJitter):
		w.fail("adding %s with start_jitter %v: Jitter asked for %v", name, b.cfg.StartJitter, w.jitMax)
		return
	case b.cfg.StartJitter > 0:
		delay = w.jitVal[0]
	case len(w.jitMax) != 0:
		w.fail("adding %s without start_jitter: Jitter asked for %v", name, w.jitMax)
		return
	}
	w.refs[name] = b
	w.order = append(w.order, name)
	now := w.clk.Now()
	b.due = now.Add(delay)
	if w.running {
		st := b.state()
		w.expect(hsEv{name: name, at: now, state: st, prev: st, health: b.health, weight: 100})
	} else {
		w.pending[name] = true
		b.due = time.Time{}.Add(delay) // counted from Run
	}
	w.tracef("add %s serving=%v cfg=%+v delay=%v checker %v", name, serving, raw, delay, chk)
}

func (w *hsWorld) remove(name string) {
	if err := w.s.Remove(bid(name)); err != nil {
		w.fail("removing %s: %v", name, err)
		return
	}
	w.stats.removes++
	b := w.refs[name]
	if b.run != nil {
		b.run.abandoned = true
		w.abandoned = append(w.abandoned, b.run)
		w.stats.abandoned++
	}
	delete(w.refs, name)
	delete(w.pending, name)
	w.order = slices.DeleteFunc(w.order, func(n string) bool { return n == name })
	w.tracef("remove %s (check running: %v)", name, b.run != nil)
}

func (w *hsWorld) update(name string) {
	b := w.refs[name]
	raw := w.mutate(b.raw)
	chk := b.chk
	if w.r.IntN(2) == 0 {
		chk = w.newChecker(name)
	}
	if err := w.s.Update(bid(name), raw, chk); err != nil {
		w.fail("updating %s: %v", name, err)
		return
	}
	w.stats.updates++
	b.raw, b.cfg, b.chk = raw, hsDefaults(raw), chk
	now := w.clk.Now()
	// The next check keeps its due time unless the new schedule brings it
	// closer: interval after the start of the last check.
	if b.run == nil && b.started {
		if d := b.lastStart.Add(b.interval()); d.Before(b.due) {
			b.due = d
			if d.Before(now) {
				b.due = now
			}
		}
	}
	w.tracef("update %s cfg=%+v checker %v; next check %v", name, raw, chk, b.due.Sub(w.t0))
}

func (w *hsWorld) setAdmin(name string, a backend.Admin) {
	if err := w.s.SetAdmin(bid(name), a); err != nil {
		w.fail("setting %s %v: %v", name, a, err)
		return
	}
	w.stats.admins++
	b := w.refs[name]
	w.tracef("admin %s %v (was %v)", name, a, b.admin)
	if a == b.admin {
		return
	}
	prev := b.state()
	b.admin = a
	w.expect(hsEv{name: name, at: w.clk.Now(), state: b.state(), prev: prev, health: b.health, weight: 100})
}

func (w *hsWorld) sequence(steps int) {
	for _, name := range hsNames[:1+w.r.IntN(4)] {
		w.add(name, w.drawConfig(), w.r.IntN(8) == 0)
	}
	if w.err != "" {
		return
	}
	w.s.Subscribe(Forward(w.sink))
	w.s.Subscribe(w.log.add)
	w.tracker = NewTracker(nil)
	ids := make([]backend.ID, 0, len(w.order))
	for i, name := range w.order {
		if err := w.tracker.TrackBackend(bid(name), -(1 << i)); err != nil {
			w.fail("tracking %s: %v", name, err)
			return
		}
		ids = append(ids, bid(name))
		w.tracked = append(w.tracked, name)
	}
	if err := w.tracker.TrackNoneServing("none", ids, -100); err != nil {
		w.fail("tracking none serving: %v", err)
		return
	}
	w.s.Subscribe(w.tracker.Handle)

	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.runDone = make(chan error, 1)
	go func() { w.runDone <- w.s.Run(ctx) }()
	select {
	case <-w.s.Published():
	case <-time.After(10 * time.Second):
		w.fail("Run did not publish the initial states")
		return
	}
	w.running = true
	now := w.clk.Now()
	for _, name := range w.order {
		b := w.refs[name]
		b.due = now.Add(b.due.Sub(time.Time{}))
		st := b.state()
		w.expect(hsEv{name: name, at: now, state: st, prev: st, health: b.health, weight: 100})
	}
	w.tracef("run: %d backends", len(w.order))
	w.nextAct = now.Add(w.grid(0, 2*time.Second, 10*time.Millisecond))
	w.settle()
	w.verify(true)
	for i := 0; i < steps && w.err == ""; i++ {
		w.stats.steps++
		at := w.nextTime()
		w.clk.Set(at)
		w.settle()
		if w.err != "" {
			return
		}
		full := false
		if !at.Before(w.nextAct) {
			full = w.act()
			w.settle()
			w.drawNextAct()
		}
		w.verify(full || i == steps-1)
	}
}

// nextTime is the next instant anything happens: a check due, a check's
// end, the next action.
func (w *hsWorld) nextTime() time.Time {
	next := w.nextAct
	for _, b := range w.refs {
		if b.run == nil && b.due.Before(next) {
			next = b.due
		}
		if b.run != nil && b.run.end.Before(next) {
			next = b.run.end
		}
	}
	for _, r := range w.abandoned {
		if r.end.Before(next) {
			next = r.end
		}
	}
	return next
}

func (w *hsWorld) drawNextAct() {
	now := w.clk.Now()
	// Often exactly when something else happens, to meet the edges.
	if w.r.IntN(3) == 0 {
		var times []time.Time
		for _, name := range w.order {
			if b := w.refs[name]; b.run == nil {
				times = append(times, b.due)
			} else {
				times = append(times, b.run.end)
			}
		}
		if len(times) > 0 {
			w.nextAct = times[w.r.IntN(len(times))]
			return
		}
	}
	w.nextAct = now.Add(w.grid(0, 3*time.Second, 10*time.Millisecond))
}

// settle lets the scheduler do everything due at the current instant:
// start the checks due, take the results of the checks ending now (one at
// a time, in a fixed order), and start the checks those make due.
func (w *hsWorld) settle() {
	for w.err == "" {
		w.alive()
		w.collectStarts()
		now := w.clk.Now()
		var ending []*hsRun
		for _, name := range w.order {
			if r := w.refs[name].run; r != nil && r.end.Equal(now) {
				ending = append(ending, r)
			}
		}
		var rest []*hsRun
		for _, r := range w.abandoned {
			if r.end.Equal(now) {
				switch {
				case !w.traffic:
				case r.timedOut():
					w.expAsked[r.b.name] = append(w.expAsked[r.b.name], r.timeout/2)
				case r.out == hoFail:
					w.mayAsk[r.b.name] = append(w.mayAsk[r.b.name], r.timeout/2)
				}
				r.reply(w)
				w.tracef("abandoned check of %v ends: %v", r.call.chk, r.out)
			} else {
				rest = append(rest, r)
			}
		}
		w.abandoned = rest
		if len(ending) == 0 {
			return
		}
		for _, r := range ending {
			w.complete(r)
			if w.err != "" {
				return
			}
		}
	}
}

// alive waits until Run's loop has turned after everything done so far.
func (w *hsWorld) alive() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.s.Alive(ctx); err != nil {
		w.fail("%v", err)
	}
}

// collectStarts waits for the checks the model says are due now and fails
// on any other; it then draws each one's outcome and duration, in the
// backends' order so that a seed always makes the same sequence.
func (w *hsWorld) collectStarts() {
	now := w.clk.Now()
	want := map[*hsChecker]*hsRef{}
	for _, name := range w.order {
		b := w.refs[name]
		if b.run != nil {
			continue
		}
		if b.due.Before(now) {
			w.fail("model: %s due at %v, in the past", name, b.due.Sub(w.t0))
			return
		}
		if b.due.Equal(now) {
			want[b.chk] = b
		}
	}
	arrived := map[*hsRef]*hsCall{}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for len(want) > 0 && w.err == "" {
		select {
		case c := <-w.calls:
			w.arrived(c, want, arrived)
		case <-deadline.C:
			var names []string
			for c := range want {
				names = append(names, c.String())
			}
			w.fail("checks due now did not start: %v", names)
			return
		}
	}
	for done := false; !done && w.err == ""; {
		select {
		case c := <-w.calls:
			w.arrived(c, want, arrived)
		default:
			done = true
		}
	}
	for _, name := range w.order {
		if c := arrived[w.refs[name]]; c != nil && w.err == "" {
			w.started(w.refs[name], c)
		}
	}
}

// arrived takes the call of a check that started: one of want, or a
// failure.
func (w *hsWorld) arrived(c *hsCall, want map[*hsChecker]*hsRef, arrived map[*hsRef]*hsCall) {
	now := w.clk.Now()
	b, ok := want[c.chk]
	if !ok {
		if live := w.refs[c.chk.name]; live == nil {
			w.fail("check of %v started, but %s was removed", c.chk, c.chk.name)
		} else if live.chk != c.chk {
			w.fail("check of %v started, but %s's checker is %v", c.chk, c.chk.name, live.chk)
		} else if live.run != nil || arrived[live] != nil {
			w.fail("check of %v started while its check started at %v runs", c.chk, live.lastStart.Sub(w.t0))
		} else {
			w.fail("check of %v started at %v, due at %v", c.chk, c.at.Sub(w.t0), live.due.Sub(w.t0))
		}
		return
	}
	delete(want, c.chk)
	arrived[b] = c
	if !c.at.Equal(now) {
		w.fail("check of %v started at %v, not now", c.chk, c.at.Sub(w.t0))
		return
	}
	if want := now.Add(b.cfg.Timeout); !c.hasDeadline || !c.deadline.Equal(want) {
		w.fail("check of %v: deadline %v (%v), want its start plus the timeout %v on the scheduler's clock", c.chk, c.deadline, c.hasDeadline, b.cfg.Timeout)
	}
}

// started draws the outcome and duration of b's check c.
func (w *hsWorld) started(b *hsRef, c *hsCall) {
	now := w.clk.Now()
	timeout := b.cfg.Timeout
	out := w.drawOutcome(b)
	var d time.Duration
	switch {
	case out == hoHang:
		d = timeout
	case out == hoTimeout:
		d = w.grid(timeout/2, timeout, time.Millisecond)
	case w.r.IntN(8) == 0:
		d = 0
	case w.r.IntN(10) == 0:
		d = timeout
	default:
		d = w.grid(0, min(timeout, b.cfg.Interval), time.Millisecond)
	}
	// A backend that is down rarely sends to its clients; a busy or
	// healthy one often does.
	sending := w.r.IntN(2) == 0
	if b.mode == 1 {
		sending = w.r.IntN(5) == 0
	}
	w.trafMu.Lock()
	w.sending[b.name] = sending
	w.trafMu.Unlock()
	b.run = &hsRun{b: b, call: c, start: now, end: now.Add(d), timeout: timeout, out: out, sending: sending}
	b.started, b.lastStart = true, now
	w.stats.checks++
	w.stats.outcomes[out]++
	w.tracef("start %v: will be %v after %v (sending to its clients: %v)", c.chk, out, d, sending)
}

// drawOutcome draws a result by the broker's current behaviour, which
// changes now and then, so that runs of passes and failures reach rise
// and fall.
func (w *hsWorld) drawOutcome(b *hsRef) hsOutcome {
	if w.r.IntN(10) == 0 {
		b.mode = w.r.IntN(5)
	}
	p := w.r.IntN(100)
	switch b.mode {
	case 0: // healthy
		switch {
		case p < 85:
			return hoPass
		case p < 89:
			return hoWarn
		case p < 92:
			return hoFail
		case p < 95:
			return hoInconclusive
		case p < 97:
			return hoTimeout
		}
		return hoHang
	case 1: // down
		switch {
		case p < 55:
			return hoFail
		case p < 75:
			return hoTimeout
		case p < 85:
			return hoHang
		case p < 92:
			return hoPass
		}
		return hoInconclusive
	case 2: // alarm
		switch {
		case p < 60:
			return hoAlarm
		case p < 75:
			return hoAlarmWarn
		case p < 90:
			return hoPass
		}
		return hoFail
	case 3: // host short of descriptors
		switch {
		case p < 70:
			return hoInconclusive
		case p < 85:
			return hoPass
		}
		return hoFail
	}
	return hsOutcome(w.r.IntN(int(hoCount))) // flapping
}

// complete gives the result of run to its checker and waits until the
// scheduler has taken it; the model takes it too.
func (w *hsWorld) complete(run *hsRun) {
	b := run.b
	now := w.clk.Now()
	b.run = nil
	lat := now.Sub(run.start)
	b.checks++
	b.lastCheck, b.lastLatency = now, lat
	b.latSum += lat
	pass, degraded, inconclusive, label := hsVerdict(run.out, b.cfg.OnAlarm)
	// A timeout is asked about (Options.Traffic); one of a serving backend
	// that sends to its clients is busy, and excused for busy_grace from
	// the start of the first busy check, until a pass or DOWN.
	asked := w.traffic && run.timedOut()
	if asked {
		w.expAsked[b.name] = append(w.expAsked[b.name], run.timeout/2)
	}
	excused := false
	if asked && run.sending && !pass && !inconclusive && b.health != backend.Down && b.cfg.BusyGrace > 0 {
		if b.busySince.IsZero() {
			b.busySince = run.start
		}
		excused = now.Sub(b.busySince) < b.cfg.BusyGrace
	}
	if excused {
		label = "busy"
		w.stats.excused++
	}
	if asked {
		w.stats.asked++
	}
	if run.atDeadline() {
		w.stats.atDeadline++
	}
	b.byLabel[label]++
	prevState, prevHealth := b.state(), b.health
	first := false
	switch {
	case inconclusive:
		b.inconclusive++
	case excused:
		first = !b.conclusive
		b.conclusive = true
		b.busy++
	case pass:
		first = !b.conclusive
		b.conclusive = true
		b.busySince = time.Time{}
		b.passes++
		b.failures = 0
		target := backend.Up
		if degraded {
			target = backend.Degraded
		}
		if b.health != backend.Down || first || b.passes >= b.cfg.Rise {
			b.health = target
		}
	default:
		first = !b.conclusive
		b.conclusive = true
		b.fails++
		b.failures++
		b.passes = 0
		if b.health != backend.Down && b.failures >= b.cfg.Fall {
			b.health = backend.Down
			b.busySince = time.Time{}
		}
	}
	if first {
		delete(w.pending, b.name)
	}
	if first || b.health != prevHealth {
		w.expect(hsEv{name: b.name, at: now, state: b.state(), prev: prevState, health: b.health, firstResult: first, weight: 100})
		if b.state() != prevState {
			w.stats.changes++
		}
	}
	b.due = run.start.Add(b.interval())
	if b.due.Before(now) {
		b.due = now
	}
	w.tracef("end %v: %v after %v (asked %v, excused %v); %v passes %d failures %d; next at %v", run.call.chk, run.out, lat, asked, excused, b.health, b.passes, b.failures, b.due.Sub(w.t0))
	run.reply(w)
	// Wait until the scheduler has counted it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ok := w.status(b.name)
		if ok && st.Checks >= b.checks {
			run.call.chk.mu.Lock()
			misdone := run.call.chk.misdone
			run.call.chk.mu.Unlock()
			if misdone != "" {
				w.fail("%v: %s", run.call.chk, misdone)
			}
			return
		}
		if time.Now().After(deadline) {
			w.fail("the result of %v was not taken (checks %d, want %d)", run.call.chk, st.Checks, b.checks)
			return
		}
		runtime.Gosched()
		time.Sleep(20 * time.Microsecond)
	}
}

func (w *hsWorld) status(name string) (BackendStatus, bool) {
	for _, st := range w.s.Snapshot().Backends {
		if st.Backend.Name == name {
			return st, true
		}
	}
	return BackendStatus{}, false
}

// act does one random action at the current instant; it reports whether
// the backends changed (for the metrics check).
func (w *hsWorld) act() bool {
	switch p := w.r.IntN(100); {
	case p < 45:
		w.reload()
		return true
	case p < 74:
		if len(w.order) == 0 {
			return false
		}
		name := w.order[w.r.IntN(len(w.order))]
		w.setAdmin(name, []backend.Admin{backend.AdminNone, backend.AdminDrain, backend.AdminMaint}[w.r.IntN(3)])
	case p < 80:
		w.subscribe()
	case p < 85:
		// Operations on a backend that is not there fail and change nothing.
		var gone []string
		for _, n := range hsNames {
			if w.refs[n] == nil {
				gone = append(gone, n)
			}
		}
		if len(gone) > 0 {
			n := gone[w.r.IntN(len(gone))]
			chk := &hsChecker{name: n}
			for _, err := range []error{w.s.Update(bid(n), CheckConfig{}, chk), w.s.Remove(bid(n)), w.s.SetAdmin(bid(n), backend.AdminMaint)} {
				if !errors.Is(err, ErrUnknownBackend) {
					w.fail("an operation on unknown backend %s: %v", n, err)
				}
			}
		}
		if len(w.order) > 0 {
			n := w.order[w.r.IntN(len(w.order))]
			if err := w.s.Add(bid(n), CheckConfig{}, &hsChecker{name: n}); err == nil {
				w.fail("adding %s twice succeeded", n)
			}
		}
	default:
		for _, name := range w.order {
			w.refs[name].mode = w.r.IntN(5)
		}
		w.tracef("brokers change behaviour")
	}
	return false
}

// subscribe adds a subscriber, which first gets the current state of
// every backend, or removes one added earlier, which then gets nothing.
func (w *hsWorld) subscribe() {
	var subscribed []*hsLate
	for _, l := range w.late {
		if l.to < 0 {
			subscribed = append(subscribed, l)
		}
	}
	if len(subscribed) > 0 && w.r.IntN(2) == 0 {
		l := subscribed[w.r.IntN(len(subscribed))]
		l.cancel()
		l.to = len(w.exp)
		w.stats.unsubscribes++
		w.tracef("subscriber %d removed", slices.Index(w.late, l))
		return
	}
	l := &hsLate{from: len(w.exp), to: -1}
	now := w.clk.Now()
	for _, name := range w.order {
		b := w.refs[name]
		st := b.state()
		l.first = append(l.first, hsEv{name: name, at: now, state: st, prev: st, health: b.health, weight: 100})
	}
	l.cancel = w.s.Subscribe(l.log.add)
	w.late = append(w.late, l)
	w.stats.subscribes++
	w.tracef("subscriber %d added", len(w.late)-1)
}

// reload removes, updates and adds backends, as a reload of the daemon
// does.
func (w *hsWorld) reload() {
	w.stats.reloads++
	w.tracef("reload")
	for _, name := range slices.Clone(w.order) {
		switch p := w.r.IntN(100); {
		case p < 15:
			w.remove(name)
		case p < 55:
			w.update(name)
		}
		if w.err != "" {
			return
		}
	}
	for w.r.IntN(3) == 0 && len(w.order) < len(hsNames) {
		var free []string
		for _, n := range hsNames {
			if w.refs[n] == nil {
				free = append(free, n)
			}
		}
		w.add(free[w.r.IntN(len(free))], w.drawConfig(), w.r.IntN(6) == 0)
	}
}

// verify compares the scheduler's outputs with the model.
func (w *hsWorld) verify(withMetrics bool) {
	if w.err != "" {
		return
	}
	if names := w.s.Names(); !slices.Equal(hsIDNames(names), w.order) {
		w.fail("Names %v, want %v", hsIDNames(names), w.order)
		return
	}
	snap := w.s.Snapshot()
	for i, st := range snap.Backends {
		b := w.refs[w.order[i]]
		if st.Backend.Name != b.name {
			w.fail("Snapshot backend %d is %s, want %s", i, st.Backend.Name, b.name)
			return
		}
		type view struct {
			State, Health                      backend.State
			Admin                              backend.Admin
			Passes, Failures                   int
			Checks, FailedChecks, Inconclusive uint64
			BusyChecks                         uint64
			BusySince                          time.Duration
			LastCheck                          time.Duration
			LastLatency                        time.Duration
			WeightPercent                      int
		}
		got := view{st.State, st.Health, st.Admin, st.ConsecutivePasses, st.ConsecutiveFailures, st.Checks, st.Failures, st.InconclusiveChecks, st.BusyChecks, -1, 0, st.LastLatency, st.WeightPercent}
		want := view{b.state(), b.health, b.admin, b.passes, b.failures, b.checks, b.fails, b.inconclusive, b.busy, -1, 0, b.lastLatency, 100}
		if !st.BusySince.IsZero() {
			got.BusySince = st.BusySince.Sub(w.t0)
		}
		if !b.busySince.IsZero() {
			want.BusySince = b.busySince.Sub(w.t0)
		}
		if !st.LastCheck.IsZero() {
			got.LastCheck = st.LastCheck.Sub(w.t0)
		}
		if !b.lastCheck.IsZero() {
			want.LastCheck = b.lastCheck.Sub(w.t0)
		}
		if got != want {
			w.fail("status of %s: %+v, want %+v", b.name, got, want)
			return
		}
		if b.run == nil && !st.NextCheck.Equal(b.due) {
			w.fail("next check of %s at %v, want %v", b.name, st.NextCheck.Sub(w.t0), b.due.Sub(w.t0))
			return
		}
	}
	// A running check's context is not done before its deadline, however
	// long in real time the step took.
	runs := slices.Clone(w.abandoned)
	for _, name := range w.order {
		if r := w.refs[name].run; r != nil {
			runs = append(runs, r)
		}
	}
	for _, r := range runs {
		if err := r.call.ctx.Err(); err != nil {
			w.fail("check of %v started at %v: context done (%v) before its deadline %v", r.call.chk, r.start.Sub(w.t0), err, r.start.Add(r.timeout).Sub(w.t0))
			return
		}
	}
	w.verifyAsked(10 * time.Second)
	// Events: exactly the expected ones, in order.
	got := w.log.all()
	n := min(len(got), len(w.exp))
	for i := range n {
		if g := hsEvOf(got[i]); g != w.exp[i] {
			w.fail("event %d: %v, want %v", i, g, w.exp[i])
			return
		}
	}
	if len(got) != len(w.exp) {
		var extra []string
		for _, e := range got[n:] {
			extra = append(extra, hsEvOf(e).String())
		}
		for _, e := range w.exp[n:] {
			extra = append(extra, "missing "+e.String())
		}
		w.fail("%d events, want %d: %s", len(got), len(w.exp), strings.Join(extra, "; "))
		return
	}
	w.stats.events = len(got)
	for i, l := range w.late {
		to := l.to
		if to < 0 {
			to = len(w.exp)
		}
		want := append(slices.Clone(l.first), w.exp[l.from:to]...)
		got := l.log.all()
		if len(got) != len(want) {
			w.fail("subscriber %d got %d events, want %d", i, len(got), len(want))
			return
		}
		for j := range got {
			if g := hsEvOf(got[j]); g != want[j] {
				w.fail("subscriber %d event %d: %v, want %v", i, j, g, want[j])
				return
			}
		}
	}
	// The sink follows the effective states.
	w.sink.mu.Lock()
	for _, name := range w.order {
		if st, want := w.sink.states[name], w.refs[name].state(); st != want {
			w.fail("sink has %s %v, want %v", name, st, want)
		}
	}
	w.sink.mu.Unlock()
	// The tracker sums its rules over the last events.
	want := 0
	serving := false
	for i, name := range w.tracked {
		e, ok := w.lastEv[name]
		if !ok || e.health == backend.Down {
			want -= 1 << i
		}
		serving = serving || ok && (e.state == backend.Up || e.state == backend.Degraded)
	}
	if !serving {
		want -= 100
	}
	if d := w.tracker.Delta(); d != want {
		w.fail("tracker delta %d, want %d", d, want)
	}
	select {
	case <-w.s.Checked():
		if len(w.pending) > 0 {
			w.fail("Checked closed while %v await their first result", w.pending)
		}
	default:
		if len(w.pending) == 0 {
			w.fail("Checked not closed, every backend added before Run has its first result")
		}
	}
	if withMetrics {
		w.verifyMetrics()
	}
}

// verifyAsked checks that Options.Traffic was asked about exactly the
// timeouts the model expects, by backend name, about half the timeout of
// each, and maybe about failures of abandoned checks. It waits up to wait
// (real time) for the questions of abandoned checks, asked after the model
// took their end.
func (w *hsWorld) verifyAsked(wait time.Duration) {
	deadline := time.Now().Add(wait)
	for {
		w.trafMu.Lock()
		short := false
		for name, exp := range w.expAsked {
			short = short || len(w.asked[name]) < len(exp)
		}
		asked := map[string][]time.Duration{}
		for name, a := range w.asked {
			asked[name] = slices.Sorted(slices.Values(a))
		}
		w.trafMu.Unlock()
		if short && time.Now().Before(deadline) {
			runtime.Gosched()
			time.Sleep(50 * time.Microsecond)
			continue
		}
		for _, name := range hsNames {
			extra := slices.Clone(asked[name])
			for _, d := range w.expAsked[name] {
				i := slices.Index(extra, d)
				if i < 0 {
					w.fail("traffic of %s asked about %v, want %v", name, asked[name], w.expAsked[name])
					return
				}
				extra = slices.Delete(extra, i, i+1)
			}
			may := slices.Clone(w.mayAsk[name])
			for _, d := range extra {
				i := slices.Index(may, d)
				if i < 0 {
					w.fail("traffic of %s asked about %v, want %v (and maybe %v)", name, asked[name], w.expAsked[name], w.mayAsk[name])
					return
				}
				may = slices.Delete(may, i, i+1)
			}
		}
		return
	}
}

func hsIDNames(ids []backend.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Name
	}
	return out
}

// verifyMetrics compares the checks' series with the model's counts; a
// removed backend has none.
func (w *hsWorld) verifyMetrics() {
	mfs, err := w.reg.Gather()
	if err != nil {
		w.fail("gathering metrics: %v", err)
		return
	}
	var checks, latency *dto.MetricFamily // nil: no series
	for _, mf := range mfs {
		switch mf.GetName() {
		case "rmqlb_healthcheck_checks_total":
			checks = mf
		case "rmqlb_healthcheck_duration_seconds":
			latency = mf
		}
	}
	for _, name := range hsNames {
		b := w.refs[name]
		sel := map[string]string{"listener": "l", "backend": name}
		if b == nil {
			if n := len(metricstest.Find(checks, sel)) + len(metricstest.Find(latency, sel)); n > 0 {
				w.fail("removed backend %s has %d series", name, n)
			}
			continue
		}
		for _, res := range []string{"pass", "warn", "alarm", "fail", "busy", "inconclusive"} {
			sel["result"] = res
			ms := metricstest.Find(checks, sel)
			if len(ms) != 1 || uint64(ms[0].GetCounter().GetValue()) != b.byLabel[res] {
				w.fail("%s checks result=%s: %v, want %d", name, res, ms, b.byLabel[res])
				return
			}
		}
		delete(sel, "result")
		ms := metricstest.Find(latency, sel)
		if len(ms) != 1 {
			w.fail("%s has %d duration series", name, len(ms))
			return
		}
		h := ms[0].GetHistogram()
		if h.GetSampleCount() != b.checks || math.Abs(h.GetSampleSum()-b.latSum.Seconds()) > 1e-6 {
			w.fail("%s durations: %d checks, %v s; want %d, %v s", name, h.GetSampleCount(), h.GetSampleSum(), b.checks, b.latSum.Seconds())
			return
		}
	}
}

// finish stops Run, lets every waiting check return, and checks the
// checkers: each closed once, none checked twice at once or after Close.
func (w *hsWorld) finish() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	close(w.stop)
	select {
	case err := <-w.runDone:
		if err != nil {
			w.fail("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		w.fail("Run did not return after its context was cancelled")
		return
	}
	if w.err != "" {
		return
	}
	select {
	case c := <-w.calls:
		w.fail("check of %v started after the last step", c.chk)
	default:
	}
	w.verifyAsked(0) // every check has returned
	for _, c := range w.checkers {
		c.mu.Lock()
		closed, overlap, afterClose, misdone := c.closed, c.overlap, c.afterClose, c.misdone
		c.mu.Unlock()
		switch {
		case misdone != "":
			w.fail("checker %v: %s", c, misdone)
		case closed != 1:
			w.fail("checker %v closed %d times, want once", c, closed)
		case overlap:
			w.fail("checker %v ran two checks at once", c)
		case afterClose:
			w.fail("checker %v checked after it was closed", c)
		}
	}
}
