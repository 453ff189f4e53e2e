package healthcheck

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/fielderr"
)

var errFail = errors.New("waiting for Connection.Start: timeout")

// errNoFD is a connect that failed for want of a file descriptor, as the net package reports it.
var errNoFD = fmt.Errorf("connecting to 10.0.0.1:5672: %w",
	&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)})

// step is one check in a Machine table test: its result, and what must hold after it.
type step struct {
	r         string // "ok", "fail", "warn", "busy" (a timeout while the backend sends to its clients), "local" (no file descriptor)
	state     backend.State
	next      time.Duration // interval to the next check
	event     bool          // an event must be emitted
	reasonHas string
}

func res(s string) Result {
	switch s {
	case "fail":
		return Result{Err: errFail}
	case "warn":
		return Result{Warning: "resource alarm: low on memory"}
	case "busy":
		return Result{Err: errFail, Busy: true}
	case "local":
		return Failed(errNoFD)
	}
	return Result{}
}

// TestMachineSetAdminNoted: a note on how the operator's state came ends
// the reason of its change.
func TestMachineSetAdminNoted(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second}, now, 0)
	for _, c := range []struct {
		a          backend.Admin
		note, want string
	}{
		{backend.AdminMaint, "restored from the state file at start", "operator set MAINT (restored from the state file at start)"},
		{backend.AdminDrain, "", "operator set DRAIN"},
		{backend.AdminNone, "handed over", "operator cleared DRAIN (handed over)"},
	} {
		ev := m.SetAdminNoted(now, c.a, c.note)
		if len(ev) != 1 || ev[0].Reason != c.want {
			t.Errorf("SetAdminNoted(%v, %q): %+v, want the reason %q", c.a, c.note, ev, c.want)
		}
	}
	if ev := m.SetAdminNoted(now, backend.AdminNone, "again"); ev != nil {
		t.Errorf("the same state again: %+v", ev)
	}
}

func TestMachineSteps(t *testing.T) {
	cfg := CheckConfig{Interval: 2 * time.Second, FastInterval: 500 * time.Millisecond, DownInterval: 5 * time.Second, Rise: 2, Fall: 3}
	const iv, fast, down = 2 * time.Second, 500 * time.Millisecond, 5 * time.Second
	tests := []struct {
		name  string
		cfg   CheckConfig
		steps []step
	}{
		{"first pass brings UP at once", cfg, []step{
			{r: "ok", state: backend.Up, next: iv, event: true, reasonHas: "first check passed"},
			{r: "ok", state: backend.Up, next: iv},
		}},
		{"first failure stays DOWN with the error as reason", cfg, []step{
			{r: "fail", state: backend.Down, next: down, event: true, reasonHas: "timeout"},
			{r: "fail", state: backend.Down, next: down},
			{r: "ok", state: backend.Down, next: fast},
			{r: "ok", state: backend.Up, next: iv, event: true, reasonHas: "2 consecutive passes"},
		}},
		{"rise and fall of 1 say one result", CheckConfig{Interval: 2 * time.Second, FastInterval: 500 * time.Millisecond, DownInterval: 5 * time.Second, Rise: 1, Fall: 1}, []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "fail", state: backend.Down, next: down, event: true, reasonHas: "1 failure: waiting for Connection.Start: timeout"},
			{r: "ok", state: backend.Up, next: iv, event: true, reasonHas: "1 pass"},
		}},
		{"fall after 3 failures at fastinterval", cfg, []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "fail", state: backend.Up, next: fast},
			{r: "fail", state: backend.Up, next: fast},
			{r: "fail", state: backend.Down, next: down, event: true, reasonHas: "3 consecutive failures: waiting for Connection.Start: timeout"},
		}},
		{"a pass resets the failure count", cfg, []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "fail", state: backend.Up, next: fast},
			{r: "fail", state: backend.Up, next: fast},
			{r: "ok", state: backend.Up, next: iv},
			{r: "fail", state: backend.Up, next: fast},
			{r: "fail", state: backend.Up, next: fast},
			{r: "fail", state: backend.Down, next: down, event: true},
		}},
		{"a failure resets the rise count", cfg, []step{
			{r: "fail", state: backend.Down, next: down, event: true},
			{r: "ok", state: backend.Down, next: fast},
			{r: "fail", state: backend.Down, next: down},
			{r: "ok", state: backend.Down, next: fast},
			{r: "ok", state: backend.Up, next: iv, event: true},
		}},
		{"warning makes DEGRADED at once and back", cfg, []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "warn", state: backend.Degraded, next: iv, event: true, reasonHas: "low on memory"},
			{r: "warn", state: backend.Degraded, next: iv},
			{r: "fail", state: backend.Degraded, next: fast},
			{r: "warn", state: backend.Degraded, next: iv},
			{r: "ok", state: backend.Up, next: iv, event: true, reasonHas: "warning cleared"},
		}},
		{"degraded falls like up", cfg, []step{
			{r: "warn", state: backend.Degraded, next: iv, event: true, reasonHas: "first check passed; resource alarm"},
			{r: "fail", state: backend.Degraded, next: fast},
			{r: "fail", state: backend.Degraded, next: fast},
			{r: "fail", state: backend.Down, next: down, event: true},
			{r: "warn", state: backend.Down, next: fast},
			{r: "warn", state: backend.Degraded, next: iv, event: true},
		}},
		{"defaults: inter 2s, rise 2, fall 3", CheckConfig{}, []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "fail", state: backend.Up, next: iv},
			{r: "fail", state: backend.Up, next: iv},
			{r: "fail", state: backend.Down, next: iv, event: true},
			{r: "ok", state: backend.Down, next: iv},
			{r: "ok", state: backend.Up, next: iv, event: true},
		}},
		{"busy timeouts of a serving backend count for nothing within the grace", cfg, []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "busy", state: backend.Up, next: iv},
			{r: "busy", state: backend.Up, next: iv},
			{r: "ok", state: backend.Up, next: iv},
			{r: "fail", state: backend.Up, next: fast},
			{r: "busy", state: backend.Up, next: fast},
			{r: "fail", state: backend.Up, next: fast},
			{r: "fail", state: backend.Down, next: down, event: true, reasonHas: "3 consecutive failures"},
		}},
		{"busy past the grace is a failure", withGrace(cfg, 3*time.Second), []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "busy", state: backend.Up, next: iv},   // busy from 2 s
			{r: "busy", state: backend.Up, next: iv},   // 4.01 s: 2.01 s busy
			{r: "busy", state: backend.Up, next: fast}, // 6.01 s: 4.01 s busy, a failure
			{r: "busy", state: backend.Up, next: fast},
			{r: "busy", state: backend.Down, next: down, event: true, reasonHas: "longer than busy_grace 3s: it still sends to its clients but answers no new connection"},
		}},
		{"a pass ends the busy streak", withGrace(cfg, 3*time.Second), []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "busy", state: backend.Up, next: iv},
			{r: "busy", state: backend.Up, next: iv},
			{r: "ok", state: backend.Up, next: iv},
			{r: "busy", state: backend.Up, next: iv},
			{r: "busy", state: backend.Up, next: iv},
		}},
		{"busy does not bring a DOWN backend up", cfg, []step{
			{r: "fail", state: backend.Down, next: down, event: true},
			{r: "busy", state: backend.Down, next: down},
			{r: "ok", state: backend.Down, next: fast},
			{r: "busy", state: backend.Down, next: down},
		}},
		{"negative grace: busy is a failure", withGrace(cfg, -1), []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "busy", state: backend.Up, next: fast},
			{r: "busy", state: backend.Up, next: fast},
			{r: "busy", state: backend.Down, next: down, event: true, reasonHas: "3 consecutive failures: waiting for Connection.Start: timeout"},
		}},
		{"inconclusive checks keep UP and count as no failure", cfg, []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "local", state: backend.Up, next: iv},
			{r: "local", state: backend.Up, next: iv},
			{r: "local", state: backend.Up, next: iv}, // as many as fall
			{r: "fail", state: backend.Up, next: fast},
			{r: "fail", state: backend.Up, next: fast},
			{r: "local", state: backend.Up, next: fast}, // does not reset the failures either
			{r: "fail", state: backend.Down, next: down, event: true, reasonHas: "3 consecutive failures: waiting for Connection.Start"},
		}},
		{"inconclusive checks keep DOWN and count as no pass", cfg, []step{
			{r: "fail", state: backend.Down, next: down, event: true},
			{r: "local", state: backend.Down, next: down},
			{r: "local", state: backend.Down, next: down},
			{r: "ok", state: backend.Down, next: fast},
			{r: "local", state: backend.Down, next: fast}, // does not reset the passes either
			{r: "ok", state: backend.Up, next: iv, event: true, reasonHas: "2 consecutive passes"},
		}},
		{"inconclusive checks keep DEGRADED", cfg, []step{
			{r: "warn", state: backend.Degraded, next: iv, event: true},
			{r: "local", state: backend.Degraded, next: iv},
			{r: "local", state: backend.Degraded, next: iv},
			{r: "local", state: backend.Degraded, next: iv},
			{r: "warn", state: backend.Degraded, next: iv},
		}},
		{"an inconclusive first check is no first check", cfg, []step{
			{r: "local", state: backend.Down, next: down},
			{r: "local", state: backend.Down, next: down},
			{r: "ok", state: backend.Up, next: iv, event: true, reasonHas: "first check passed"},
		}},
		{"inconclusive checks do not end a busy streak nor count in it", withGrace(cfg, 3*time.Second), []step{
			{r: "ok", state: backend.Up, next: iv, event: true},
			{r: "busy", state: backend.Up, next: iv},   // busy from 2 s
			{r: "local", state: backend.Up, next: iv},  // 4.01 s
			{r: "busy", state: backend.Up, next: fast}, // 6.01 s: 4.01 s busy, a failure
		}},
		{"rise 1 fall 1", CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}, []step{
			{r: "ok", state: backend.Up, next: time.Second, event: true},
			{r: "fail", state: backend.Down, next: time.Second, event: true},
			{r: "ok", state: backend.Up, next: time.Second, event: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			m := NewMachine(bid("rmq1"), tc.cfg, now, 100*time.Millisecond)
			if m.State() != backend.Down || m.Due() != now.Add(100*time.Millisecond) {
				t.Fatalf("initial %v due %v", m.State(), m.Due())
			}
			for i, s := range tc.steps {
				now = m.Due()
				m.Begin(now)
				now = now.Add(10 * time.Millisecond) // the check takes 10 ms
				ev := m.Observe(now, res(s.r), 10*time.Millisecond)
				if m.State() != s.state {
					t.Fatalf("step %d (%s): state %v, want %v", i, s.r, m.State(), s.state)
				}
				if got := m.Due().Sub(now.Add(-10 * time.Millisecond)); got != s.next {
					t.Fatalf("step %d (%s): next check after %v, want %v", i, s.r, got, s.next)
				}
				if (len(ev) > 0) != s.event {
					t.Fatalf("step %d (%s): events %+v, want event %v", i, s.r, ev, s.event)
				}
				if s.reasonHas != "" && (len(ev) == 0 || !strings.Contains(ev[0].Reason, s.reasonHas)) {
					t.Fatalf("step %d (%s): events %+v, want reason with %q", i, s.r, ev, s.reasonHas)
				}
				if len(ev) > 0 && (ev[0].State != s.state || ev[0].Backend != bid("rmq1") || ev[0].Time != now) {
					t.Fatalf("step %d: event %+v", i, ev[0])
				}
			}
		})
	}
}

func withGrace(c CheckConfig, d time.Duration) CheckConfig {
	c.BusyGrace = d
	return c
}

// TestMachineBusyStatus: status shows a busy streak and counts its checks apart from failures.
func TestMachineBusyStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second}, now, 0)
	check := func(r string) BackendStatus {
		now = m.Due()
		m.Begin(now)
		now = now.Add(10 * time.Millisecond)
		m.Observe(now, res(r), 10*time.Millisecond)
		return m.Status()
	}
	check("ok")
	start := m.Due()
	st := check("busy")
	if st.BusySince != start || st.BusyChecks != 1 || st.Failures != 0 || st.ConsecutiveFailures != 0 || !m.lastExcused {
		t.Fatalf("after a busy timeout: %+v", st)
	}
	if !strings.Contains(st.LastError, "busy") {
		t.Errorf("last error %q does not say busy", st.LastError)
	}
	if st = check("busy"); st.BusySince != start || st.BusyChecks != 2 || st.Checks != 3 {
		t.Fatalf("after two busy timeouts: %+v", st)
	}
	if st = check("ok"); !st.BusySince.IsZero() || st.BusyChecks != 2 || m.lastExcused {
		t.Fatalf("after a pass: %+v", st)
	}
}

// TestMachineServingFirstBusy: the first check of a backend added in service
// that is excused as busy is its first result all the same: one event
// (Event.FirstResult), in service, whose reason says it is busy and
// replaces "check added while in service"; the next result is not a first
// one.
func TestMachineServingFirstBusy(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second}, now, 0)
	m.health, m.everUp, m.reason = backend.Up, true, "check added while in service" // as AddServing
	m.Begin(now)
	now = now.Add(time.Second)
	ev := m.Observe(now, res("busy"), time.Second)
	if len(ev) != 1 || !ev[0].FirstResult || ev[0].State != backend.Up || ev[0].Prev != backend.Up ||
		!strings.Contains(ev[0].Reason, "busy") || !m.lastExcused || !m.Checked() {
		t.Fatalf("first check excused as busy: events %+v, excused %v, checked %v", ev, m.lastExcused, m.Checked())
	}
	if st := m.Status(); st.Reason != ev[0].Reason || st.BusyChecks != 1 || st.Failures != 0 {
		t.Fatalf("status after the first check: %+v", st)
	}
	m.Begin(m.Due())
	if ev := m.Observe(m.Due(), res("busy"), time.Second); len(ev) != 0 {
		t.Fatalf("second busy check: events %+v, want none", ev)
	}
}

// TestMachineInconclusiveStatus: status counts inconclusive checks apart from failures, shows
// the running streak of them and why, and keeps the state's reason; a conclusive check ends
// the streak.
func TestMachineInconclusiveStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second}, now, 0)
	check := func(r string) BackendStatus {
		t.Helper()
		now = m.Due()
		m.Begin(now)
		now = now.Add(10 * time.Millisecond)
		if ev := m.Observe(now, res(r), 10*time.Millisecond); r == "local" && ev != nil {
			t.Fatalf("events of an inconclusive check: %+v", ev)
		}
		return m.Status()
	}
	if st := check("local"); m.Checked() || st.State != backend.Down || st.Reason != "not checked yet" || st.InconclusiveChecks != 1 {
		t.Fatalf("after an inconclusive first check: checked %v, %+v", m.Checked(), st)
	}
	check("ok")
	start := m.Due()
	st := check("local")
	if st.State != backend.Up || st.Reason != "first check passed" || st.InconclusiveSince != start || st.InconclusiveChecks != 2 ||
		st.Failures != 0 || st.ConsecutiveFailures != 0 || st.ConsecutivePasses != 1 || st.LastError != "" || st.Checks != 3 {
		t.Fatalf("after an inconclusive check: %+v", st)
	}
	if want := "local shortage: connecting to 10.0.0.1:5672: dial tcp: socket: too many open files"; st.LastInconclusive != want {
		t.Errorf("last inconclusive %q, want %q", st.LastInconclusive, want)
	}
	if st = check("local"); st.InconclusiveSince != start || st.InconclusiveChecks != 3 {
		t.Fatalf("after two inconclusive checks: %+v", st)
	}
	if st = check("fail"); !st.InconclusiveSince.IsZero() || st.InconclusiveChecks != 3 || st.ConsecutiveFailures != 1 || st.LastInconclusive == "" {
		t.Fatalf("after a failure: %+v", st)
	}
}

// TestLocalShortage: the errors of a host out of file descriptors or socket memory
// make an inconclusive result whose error says so and keeps the errno; others fail the check.
func TestLocalShortage(t *testing.T) {
	for _, c := range []struct {
		errno syscall.Errno
		local bool
	}{
		{syscall.EMFILE, true}, {syscall.ENFILE, true}, {syscall.ENOBUFS, true}, {syscall.ENOMEM, true},
		{syscall.EADDRNOTAVAIL, false}, // also no usable source address: the broker cannot be reached
		{syscall.ECONNREFUSED, false}, {syscall.ETIMEDOUT, false}, {syscall.EHOSTUNREACH, false}, {syscall.ENETUNREACH, false},
		{syscall.ECONNRESET, false},
	} {
		err := fmt.Errorf("connecting to 10.0.0.1:5672: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", c.errno)})
		if LocalShortage(err) != c.local {
			t.Errorf("LocalShortage(%v) = %v, want %v", err, !c.local, c.local)
		}
		r := Failed(err)
		if r.Inconclusive != c.local || !errors.Is(r.Err, c.errno) || r.Passed() ||
			strings.HasPrefix(r.Err.Error(), "local shortage: ") != c.local {
			t.Errorf("Failed(%v) = %+v", err, r)
		}
	}
	if LocalShortage(nil) || LocalShortage(errFail) {
		t.Error("LocalShortage of nil or a timeout")
	}
}

// TestMachineDetectionBound: a broker freezing right after a pass is DOWN within
// interval + (fall-1) x fastinterval + timeout (the bound in doc.go), which is at most
// fall x interval + timeout.
func TestMachineDetectionBound(t *testing.T) {
	for _, cfg := range []CheckConfig{
		{Interval: 2 * time.Second, Timeout: time.Second},
		// fastinterval shorter than timeout: failures come timeout apart.
		{Interval: 2 * time.Second, FastInterval: 200 * time.Millisecond, Timeout: time.Second, Fall: 4},
		{Interval: 300 * time.Millisecond, Timeout: 500 * time.Millisecond, Fall: 2},
	} {
		cfg = cfg.WithDefaults()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		m := NewMachine(bid("b"), cfg, now, 0)
		m.Begin(now)
		m.Observe(now.Add(5*time.Millisecond), Result{}, 5*time.Millisecond)
		frozen := now.Add(5 * time.Millisecond)
		for m.State() == backend.Up {
			start := m.Due()
			m.Begin(start)
			m.Observe(start.Add(cfg.Timeout), Result{Err: errFail}, cfg.Timeout)
			now = start.Add(cfg.Timeout)
		}
		// The documented bound (package doc, Timing), which the worst case reaches.
		bound := cfg.Interval + time.Duration(cfg.Fall-1)*max(cfg.FastInterval, cfg.Timeout) + cfg.Timeout
		if d := now.Sub(frozen); d > bound || d < bound-10*time.Millisecond {
			t.Errorf("interval %v fastinterval %v timeout %v fall %d: DOWN after %v, bound %v",
				cfg.Interval, cfg.FastInterval, cfg.Timeout, cfg.Fall, d, bound)
		} else {
			t.Logf("DOWN %v after the freeze (bound %v)", d, bound)
		}
	}
}

func TestMachineSlowCheckDelaysNext(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("b"), CheckConfig{Interval: time.Second, Timeout: 3 * time.Second}, now, 0)
	m.Begin(now)
	m.Observe(now.Add(2500*time.Millisecond), Result{}, 2500*time.Millisecond)
	if m.Due() != now.Add(2500*time.Millisecond) {
		t.Fatalf("due %v: a check that overran the interval must be followed at once, not overlap", m.Due().Sub(now))
	}
}

func TestMachineAdmin(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("b"), CheckConfig{Rise: 1, Fall: 1}, now, 0)
	m.Begin(now)
	m.Observe(now, Result{}, 0)
	ev := m.SetAdmin(now, backend.AdminDrain)
	if m.State() != backend.Drain || len(ev) != 1 || ev[0].Prev != backend.Up || ev[0].Health != backend.Up {
		t.Fatalf("drain: %v %+v", m.State(), ev)
	}
	if ev := m.SetAdmin(now, backend.AdminDrain); ev != nil {
		t.Fatalf("same admin state again: %+v", ev)
	}
	// A drained backend that fails its checks is DOWN: a drain must not hide a frozen broker,
	// whose sessions are then shut down like any other's.
	m.Begin(now)
	ev = m.Observe(now, Result{Err: errFail}, 0)
	if m.State() != backend.Down || len(ev) != 1 || ev[0].Health != backend.Down || ev[0].State != backend.Down || ev[0].Prev != backend.Drain {
		t.Fatalf("failure under drain: %v %+v", m.State(), ev)
	}
	// Passing again under drain: back to DRAIN, not UP.
	m.Begin(now)
	ev = m.Observe(now, Result{}, 0)
	if m.State() != backend.Drain || len(ev) != 1 || ev[0].Health != backend.Up || ev[0].State != backend.Drain {
		t.Fatalf("recovery under drain: %v %+v", m.State(), ev)
	}
	// Under maint the health keeps changing; the effective state does not.
	ev = m.SetAdmin(now, backend.AdminMaint)
	if m.State() != backend.Maint || ev[0].Prev != backend.Drain {
		t.Fatalf("maint: %+v", ev)
	}
	m.Begin(now)
	ev = m.Observe(now, Result{Err: errFail}, 0)
	if m.State() != backend.Maint || len(ev) != 1 || ev[0].Health != backend.Down || ev[0].State != backend.Maint {
		t.Fatalf("failure under maint: %v %+v", m.State(), ev)
	}
	ev = m.SetAdmin(now, backend.AdminNone)
	if m.State() != backend.Down || ev[0].State != backend.Down || !strings.Contains(ev[0].Reason, "cleared MAINT") {
		t.Fatalf("clear: %+v", ev)
	}
	st := m.Status()
	want := []backend.State{backend.Up, backend.Drain, backend.Down, backend.Drain, backend.Maint, backend.Down}
	if len(st.History) != len(want) {
		t.Fatalf("history %+v", st.History)
	}
	for i, h := range st.History {
		if h.To != want[i] {
			t.Fatalf("history %+v, want states %v", st.History, want)
		}
	}
}

func TestMachineSlowStart(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("b"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1, SlowStart: 10 * time.Second}, now, 0)
	obs := func(r Result) []Event {
		now = m.Due()
		m.Begin(now)
		return m.Observe(now, r, 0)
	}
	obs(Result{}) // first UP: no slow start at start-up
	if st := m.Status(); st.WeightPercent != 100 || !m.NextTick().IsZero() {
		t.Fatalf("start-up: weight %d, tick %v", st.WeightPercent, m.NextTick())
	}
	obs(Result{Err: errFail})
	ev := obs(Result{})
	if m.State() != backend.Up || ev[0].WeightPercent != 1 {
		t.Fatalf("back up: %v %+v", m.State(), ev)
	}
	upAt := now
	var weights []int
	for !m.NextTick().IsZero() {
		now = m.NextTick()
		for _, e := range m.Tick(now) {
			if !e.WeightOnly || e.State != backend.Up {
				t.Fatalf("tick event %+v", e)
			}
			weights = append(weights, e.WeightPercent)
		}
	}
	if len(weights) < 10 || weights[len(weights)-1] != 100 || now.Sub(upAt) != 10*time.Second {
		t.Fatalf("ramp %v ended after %v", weights, now.Sub(upAt))
	}
	for i := 1; i < len(weights); i++ {
		if weights[i] <= weights[i-1] {
			t.Fatalf("ramp not increasing: %v", weights)
		}
	}
	t.Logf("ramp: %v", weights)
	// Half-way: about half the weight.
	m2 := NewMachine(bid("c"), CheckConfig{Rise: 1, Fall: 1, SlowStart: 10 * time.Second}, now, 0)
	m2.Begin(now)
	m2.Observe(now, Result{}, 0)
	m2.Begin(now)
	m2.Observe(now, Result{Err: errFail}, 0)
	m2.Begin(now)
	m2.Observe(now, Result{}, 0)
	m2.Tick(now.Add(5 * time.Second))
	if w := m2.Status().WeightPercent; w < 45 || w > 55 {
		t.Fatalf("weight half-way %d", w)
	}
	// Going DOWN during slow start ends it.
	m2.Begin(now)
	m2.Observe(now.Add(5*time.Second), Result{Err: errFail}, 0)
	if !m2.NextTick().IsZero() || m2.Status().WeightPercent != 100 {
		t.Fatalf("slow start survived DOWN")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (CheckConfig{}).Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []CheckConfig{
		{Interval: -1}, {Timeout: time.Microsecond}, {Rise: -1}, {Fall: 1001}, {SlowStart: -time.Second},
	} {
		err := c.Validate()
		if err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	err := (CheckConfig{Rise: -1}).Validate()
	if !strings.Contains(err.Error(), "rise") {
		t.Errorf("error %q does not name the field", err)
	}
	// Every problem names its field as a value too, for the
	// configuration file's reader to point at its key.
	err = (CheckConfig{Interval: -1, FastInterval: time.Millisecond, Timeout: time.Microsecond, SlowStart: -1, Fall: 101, OnAlarm: AlarmDown + 1}).Validate()
	fields, others := fielderr.Split(err)
	var got []string
	for _, f := range fields {
		got = append(got, f.Field)
	}
	if want := []string{"interval", "fast_interval", "timeout", "slow_start", "fall", "on_alarm"}; !slices.Equal(got, want) || len(others) != 0 {
		t.Errorf("fields %q, others %v, want %q", got, others, want)
	}
	if err := (CheckConfig{Interval: MinInterval, Rise: MaxRiseFall, Fall: 1}).Validate(); err != nil {
		t.Errorf("limits refused: %v", err)
	}
	d := (CheckConfig{Interval: 3 * time.Second}).WithDefaults()
	if d.Timeout != DefaultTimeout || d.FastInterval != 3*time.Second || d.DownInterval != 3*time.Second || d.Rise != 2 || d.Fall != 3 || d.StartJitter != 3*time.Second {
		t.Errorf("defaults %+v", d)
	}
	if d := (CheckConfig{Interval: 500 * time.Millisecond}).WithDefaults(); d.Timeout != 500*time.Millisecond {
		t.Errorf("default timeout with a 500ms interval = %v, want the interval", d.Timeout)
	}
}

// TestMachineSetConfigAfterInconclusive: a reload to a shorter interval brings the next check
// of a backend whose checks so far were all inconclusive closer, as it does for one checked
// conclusively: the next check is interval after the start of the last one either way.
func TestMachineSetConfigAfterInconclusive(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("b"), CheckConfig{Interval: 10 * time.Second}, now, 0)
	m.Begin(now)
	m.Observe(now.Add(time.Second), res("local"), time.Second)
	if m.Checked() || m.Due() != now.Add(10*time.Second) {
		t.Fatalf("after an inconclusive check: checked %v, due %v", m.Checked(), m.Due().Sub(now))
	}
	m.SetConfig(now.Add(2*time.Second), CheckConfig{Interval: 3 * time.Second})
	if m.Due() != now.Add(3*time.Second) {
		t.Fatalf("due %v after a reload to a 3s interval, want 3s", m.Due().Sub(now))
	}
}

// TestMachineCluster: the status names the cluster of the last check, as
// it names what answered; a failed check, or one that does not tell,
// clears it; a timeout excused as busy keeps it.
func TestMachineCluster(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1, BusyGrace: time.Minute}, now, 0)
	for i, step := range []struct {
		r    Result
		want string
	}{
		{Result{Info: "RabbitMQ 3.10.8 (cluster rabbit@rmq1)", Cluster: "rabbit@rmq1"}, "rabbit@rmq1"},
		{Result{Err: errFail, Busy: true}, "rabbit@rmq1"},
		{Result{Err: errFail}, ""},
		{Result{Cluster: "rabbit@rmq3"}, "rabbit@rmq3"},
		{Result{}, ""},
	} {
		now = m.Due()
		m.Begin(now)
		now = now.Add(10 * time.Millisecond)
		m.Observe(now, step.r, 10*time.Millisecond)
		if got := m.Status().Cluster; got != step.want {
			t.Errorf("step %d (%+v): cluster %q, want %q", i, step.r, got, step.want)
		}
	}
}

// TestMachineLastRefused: the status says whether the last check passed
// with the server refusing the check's own login; a failure, another
// warning or a clean pass clear it, an inconclusive check keeps it.
func TestMachineLastRefused(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}, now, 0)
	refused := Result{Warning: "login refused: 403 ACCESS_REFUSED", Refused: true}
	for i, step := range []struct {
		r    Result
		want bool
	}{
		{refused, true},
		{Result{Err: errFail, Inconclusive: true}, true},
		{Result{Err: errFail}, false},
		{refused, true},
		{Result{Warning: "alarm probe failed"}, false},
		{refused, true},
		{Result{}, false},
	} {
		now = m.Due()
		m.Begin(now)
		now = now.Add(10 * time.Millisecond)
		m.Observe(now, step.r, 10*time.Millisecond)
		if got := m.Status(); got.LastRefused != step.want {
			t.Errorf("step %d (%+v): LastRefused %v, want %v (status %+v)", i, step.r, got.LastRefused, step.want, got)
		}
	}
}

// TestMachineFull: a pass that finds the broker at its own connection
// limit (Result.Full) makes the backend DEGRADED with the flag set, in
// the status and in the events; a change of the flag alone (another
// warning) is an event too; a clean pass clears it ("takes new clients
// again"), a failure that takes the backend DOWN clears it, one that does
// not, and an inconclusive check, keep it.
func TestMachineFull(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(bid("rmq1"), CheckConfig{Interval: time.Second, Rise: 2, Fall: 2}, now, 0)
	full := Result{Full: true, Warning: FullWarning("530 NOT_ALLOWED - connection refused: node connection limit (100) is reached")}
	for i, step := range []struct {
		r         Result
		state     backend.State
		full      bool
		event     bool
		reasonHas string
	}{
		{Result{}, backend.Up, false, true, "first check passed"},
		{full, backend.Degraded, true, true, "node connection limit reached (530 NOT_ALLOWED"},
		{full, backend.Degraded, true, false, ""},
		{Result{Warning: "alarm probe failed: 403"}, backend.Degraded, false, true, "alarm probe failed"},
		{full, backend.Degraded, true, true, "node connection limit reached"},
		{Result{Err: errFail, Inconclusive: true}, backend.Degraded, true, false, ""},
		{Result{Err: errFail}, backend.Degraded, true, false, ""},
		{Result{Err: errFail}, backend.Down, false, true, "2 consecutive failures"},
		{full, backend.Down, true, false, ""},
		{full, backend.Degraded, true, true, "2 consecutive passes; node connection limit reached"},
		{Result{}, backend.Up, false, true, "the broker takes new clients again"},
		{Result{Full: true}, backend.Degraded, true, true, "node connection limit reached: new clients go to the other backends"},
	} {
		now = m.Due()
		m.Begin(now)
		now = now.Add(10 * time.Millisecond)
		evs := m.Observe(now, step.r, 10*time.Millisecond)
		st := m.Status()
		if st.State != step.state || st.Full != step.full || !strings.Contains(st.Reason, step.reasonHas) {
			t.Errorf("step %d (%+v): %v full %v (%q), want %v full %v (%q)", i, step.r, st.State, st.Full, st.Reason, step.state, step.full, step.reasonHas)
		}
		if (len(evs) > 0) != step.event {
			t.Errorf("step %d (%+v): events %+v, want one: %v", i, step.r, evs, step.event)
		}
		for _, e := range evs {
			if e.Full != step.full {
				t.Errorf("step %d (%+v): event %+v, want Full %v", i, step.r, e, step.full)
			}
		}
		if step.full && step.r.Err == nil && !strings.HasPrefix(st.LastWarning, "node connection limit reached") {
			t.Errorf("step %d: last warning %q, want the full node's", i, st.LastWarning)
		}
	}
}
