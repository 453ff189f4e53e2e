package daemon

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/sdnotifytest"
)

// watchdogUsec is the tests' WatchdogSec: 4.4 s, so that the rounds
// (every 1.1 s) and the deadline (1.1 s) fall beside the daemon's other
// timers on the fake clock, which run in whole seconds.
const (
	watchdogUsec   = "4400000"
	watchdogPeriod = 1100 * time.Millisecond
)

// heldAliver is a part whose loop the test holds: while held, Alive waits
// for the release or the end of its context.
type heldAliver struct {
	mu   sync.Mutex
	gate chan struct{} // nil: answers at once
}

func (a *heldAliver) Alive(ctx context.Context) error {
	a.mu.Lock()
	g := a.gate
	a.mu.Unlock()
	if g == nil {
		return nil
	}
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("held by the test: %w", context.Cause(ctx))
	}
}

func (a *heldAliver) hold() {
	a.mu.Lock()
	a.gate = make(chan struct{})
	a.mu.Unlock()
}

func (a *heldAliver) release() {
	a.mu.Lock()
	if a.gate != nil {
		close(a.gate)
		a.gate = nil
	}
	a.mu.Unlock()
}

// pings returns the WATCHDOG=1 notifications among msgs, and fails the
// test on a lifecycle notification other than ones allowed.
func pings(t *testing.T, msgs []sdnotifytest.Message, allowed ...string) int {
	t.Helper()
	n := 0
	for _, m := range msgs {
		switch {
		case m.Has("WATCHDOG=1"):
			n++
		case m.Lifecycle() && !slices.ContainsFunc(allowed, m.Has):
			t.Fatalf("unexpected notification %q", m)
		}
	}
	return n
}

// nextPing waits for a WATCHDOG=1, through status lines.
func nextPing(t *testing.T, mgr *sdnotifytest.Manager) {
	t.Helper()
	if msg := mgr.NextLifecycle(t, nil); !msg.Has("WATCHDOG=1") {
		t.Fatalf("notification %q, want WATCHDOG=1", msg)
	}
}

// logged waits (real time) until logs has an entry at level whose message
// starts with msg and whose part is part.
func logged(t *testing.T, logs *observer.ObservedLogs, level zapcore.Level, msg, part string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range logs.All() {
			if e.Level == level && strings.HasPrefix(e.Message, msg) && e.ContextMap()["part"] == part {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %v log %q for part %q; logs: %v", level, msg, part, logs.All())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWatchdog: with $WATCHDOG_USEC the daemon pings the service
// manager's watchdog at once when ready, then every quarter of the
// interval on its clock, and not more often; while one part (registered
// the way the listeners, VRRP instances and checks are) does not answer,
// no WATCHDOG=1 goes out and an error names the part once its deadline
// passed; once it answers, the ping goes out and the recovery is logged;
// after STOPPING=1 nothing, and the watchdog no longer runs.
func TestWatchdog(t *testing.T) {
	mgr := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", watchdogUsec)
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	core, logs := observer.New(zap.InfoLevel)
	l := newLab(t)
	h := newHarness(t, l.file(), func(o *Options) { o.Logger = zap.New(zapcore.NewTee(o.Logger.Core(), core)) })
	// Before the start: a first check that ran before would wait for an
	// answer until its deadline, on a fake clock that does not move.
	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	h.start()
	if msg := mgr.NextLifecycle(t, nil); !msg.Has("READY=1") {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	nextPing(t, mgr) // at once

	// Every period, not before. The round's own timers are stopped when
	// the ping goes out: the only timer at now+period is the next round's.
	next := func() {
		t.Helper()
		at := h.clk.Now().Add(watchdogPeriod)
		h.clk.WaitArmed(t, at)
		if n := pings(t, mgr.Drain(t)); n != 0 {
			t.Fatalf("%d WATCHDOG=1 before the period passed", n)
		}
		h.clk.Set(at)
	}
	for range 3 {
		next()
		nextPing(t, mgr)
	}

	// A part that does not answer: no ping, an error naming it once the
	// deadline passed, none again while it stays stuck.
	held := &heldAliver{}
	p := h.d.parts.startProbed(h.d.runCtx, "held part", false, func(ctx context.Context) error { <-ctx.Done(); return nil }, held)
	t.Cleanup(func() { // before the daemon's stop, which waits for the part
		held.release()
		p.stop()
	})
	next()
	nextPing(t, mgr) // answers while not held
	held.hold()
	next() // a round starts; held part does not answer
	deadline := h.clk.Now().Add(watchdogPeriod)
	h.clk.WaitArmed(t, deadline)
	h.clk.Set(deadline)
	logged(t, logs, zapcore.ErrorLevel, "watchdog: a part of the daemon does not answer", "held part")
	h.clk.Advance(watchdogPeriod) // more time without an answer
	h.clk.Advance(watchdogPeriod)
	if n := pings(t, mgr.Drain(t)); n != 0 {
		t.Fatalf("%d WATCHDOG=1 while a part does not answer", n)
	}
	errs := 0
	for _, e := range logs.All() {
		if e.Level == zapcore.ErrorLevel && e.ContextMap()["part"] == "held part" {
			errs++
			if err, _ := e.ContextMap()["error"].(string); !strings.Contains(err, "held by the test") {
				t.Errorf("the error log says %q, want the part's own error", err)
			}
		}
	}
	if errs != 1 {
		t.Fatalf("%d error logs for the part, want 1", errs)
	}

	// It answers again: the round ends with a ping.
	held.release()
	nextPing(t, mgr)
	logged(t, logs, zapcore.WarnLevel, "watchdog: the part answers again", "held part")
	next()
	nextPing(t, mgr)
	p.stop()

	// Stop: STOPPING=1, then no ping; the watchdog has stopped.
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	rest := mgr.Drain(t)
	i := slices.IndexFunc(rest, func(m sdnotifytest.Message) bool { return m.Has("STOPPING=1") })
	if i < 0 {
		t.Fatalf("notifications at stop %q, want STOPPING=1", rest)
	}
	if n := pings(t, rest[i+1:]); n != 0 {
		t.Fatalf("%d WATCHDOG=1 after STOPPING=1", n)
	}
	h.d.sd.mu.Lock()
	wd := h.d.sd.watchdog
	h.d.sd.mu.Unlock()
	select {
	case <-wd.done:
	default:
		t.Fatal("the watchdog runs on after the stop")
	}
}

// TestWatchdogProbes: the watchdog asks the parts that can hang: each
// listener, each VRRP instance, the health checks and the main loop, by
// the names the log gives them.
func TestWatchdogProbes(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	var names []string
	for _, p := range h.d.probeTargets() {
		names = append(names, p.name)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := p.a.Alive(ctx); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
		cancel()
	}
	slices.Sort(names)
	if want := []string{"VRRP instance v", "health checks", "listener amqp", "main loop"}; !slices.Equal(names, want) {
		t.Fatalf("parts probed %q, want %q", names, want)
	}
}

// TestWatchdogOff: without $WATCHDOG_USEC, or with a $WATCHDOG_PID of
// another process, no watchdog runs (the status refresher does).
func TestWatchdogOff(t *testing.T) {
	for _, c := range []struct{ usec, pid string }{{"", ""}, {watchdogUsec, "1"}} {
		t.Run("usec="+c.usec+",pid="+c.pid, func(t *testing.T) {
			mgr := listenNotify(t)
			t.Setenv("WATCHDOG_USEC", c.usec)
			t.Setenv("WATCHDOG_PID", c.pid)
			l := newLab(t)
			h := newHarness(t, l.file())
			startChecked(t, h)
			// READY=1 is sent under sd.mu, with which the refresher and
			// the watchdog start.
			if msg := mgr.NextLifecycle(t, nil); !msg.Has("READY=1") {
				t.Fatalf("notification %q, want READY=1", msg)
			}
			h.d.sd.mu.Lock()
			refresh, wd := h.d.sd.refresh, h.d.sd.watchdog
			h.d.sd.mu.Unlock()
			if refresh == nil {
				t.Fatal("no status refresher: the test does not see the daemon ready")
			}
			if wd != nil {
				t.Fatal("a watchdog runs")
			}
		})
	}
}

// TestWatchdogInterval: the interval comes from $WATCHDOG_USEC for this
// process; the new process of an upgrade, whose $WATCHDOG_PID names the
// process it takes over from, takes the watchdog over (and its own
// successor will find its pid there).
func TestWatchdogInterval(t *testing.T) {
	d := &Daemon{log: zap.NewNop()}
	t.Setenv("WATCHDOG_USEC", watchdogUsec)
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if got := d.watchdogInterval(); got != 4400*time.Millisecond {
		t.Fatalf("interval %v, want 4.4s", got)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if got := d.watchdogInterval(); got != 0 {
		t.Fatalf("interval %v with the pid of another process, want 0", got)
	}
	d.opt.Takeover = &Takeover{offer: takeoverOffer{PID: 1}}
	if got := d.watchdogInterval(); got != 4400*time.Millisecond {
		t.Fatalf("interval %v when taking over from the pid the watchdog names, want 4.4s", got)
	}
	if got := os.Getenv("WATCHDOG_PID"); got != strconv.Itoa(os.Getpid()) {
		t.Fatalf("WATCHDOG_PID=%s after the take-over, want this process's", got)
	}
	t.Setenv("WATCHDOG_PID", "2")
	if got := d.watchdogInterval(); got != 0 {
		t.Fatalf("interval %v when taking over from a process the watchdog does not name, want 0", got)
	}
}
