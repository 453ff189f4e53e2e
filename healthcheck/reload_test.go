package healthcheck

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
)

// eventLog records events for tests, safe for the scheduler's goroutines.
type eventLog struct {
	mu sync.Mutex
	ev []Event
}

func (l *eventLog) add(e Event) { l.mu.Lock(); l.ev = append(l.ev, e); l.mu.Unlock() }

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.ev...)
}

// TestSchedulerReload adds, updates and removes backends while Run runs, on the fake clock: an
// added backend is announced at once and checked after its jitter; an update keeps the state
// and takes the new schedule; a removed backend is no longer checked and its late result is
// ignored.
func TestSchedulerReload(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Jitter: func(time.Duration) time.Duration { return 0 }})
	a := &scripted{calls: make(chan int, 10)}
	if err := s.Add(bid("a"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}, a); err != nil {
		t.Fatal(err)
	}
	var log eventLog
	s.Subscribe(log.add)
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	<-a.calls // a: first check at once
	waitWake(t, clk, clk.Now().Add(time.Second))
	if st, _ := s.State(bid("a")); st != backend.Up {
		t.Fatalf("a after its first check: %v", st)
	}

	// Add b while running: announced DOWN at once, checked at once (no jitter).
	b := &scripted{calls: make(chan int, 10)}
	if err := s.Add(bid("b"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}, b); err != nil {
		t.Fatal(err)
	}
	// Announced DOWN at once (its first check may already have run too).
	if ev := log.all(); !slices.ContainsFunc(ev, func(e Event) bool {
		return e.Backend == bid("b") && e.State == backend.Down && e.Reason == "not checked yet"
	}) {
		t.Fatalf("events after adding b: %+v", ev)
	}
	<-b.calls
	if err := s.Add(bid("b"), CheckConfig{}, b); err == nil {
		t.Fatal("adding b twice succeeded")
	}

	// Update a to a 5 s interval: a stays UP; its next check moves no later than the old due
	// time and the one after follows the new interval.
	a2 := &scripted{calls: make(chan int, 10)}
	if err := s.Update(bid("a"), CheckConfig{Interval: 5 * time.Second, Rise: 1, Fall: 1}, a2); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.State(bid("a")); st != backend.Up {
		t.Fatalf("a after update: %v", st)
	}
	clk.Advance(time.Second) // a's old due time (the new schedule is later: the old one stands), and b's
	<-a2.calls
	<-b.calls
	waitWake(t, clk, clk.Now().Add(time.Second)) // b's next
	clk.Advance(time.Second)
	<-b.calls
	select {
	case n := <-a.calls:
		t.Fatalf("the old checker of a ran after the update (call %d)", n)
	default:
	}

	// Remove b: the loop's only timer moves from b's next check (3 s) to a's, 5 s after a's last
	// start (1 s): the new interval, and no further check of b.
	if err := s.Remove(bid("b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(bid("b")); !errors.Is(err, ErrUnknownBackend) {
		t.Fatalf("removing b twice: %v", err)
	}
	waitWake(t, clk, clk.Now().Add(4*time.Second))
	clk.Advance(10 * time.Second)
	<-a2.calls
	select {
	case n := <-b.calls:
		t.Fatalf("b was checked after its removal (call %d)", n)
	default:
	}
	if names := s.Names(); len(names) != 1 || names[0] != bid("a") {
		t.Fatalf("names after removal: %v", names)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestSchedulerRemoveWhileChecking: the result of a check that was running when its backend
// was removed (and a new backend of the same name added) is not taken for the new one.
func TestSchedulerRemoveWhileChecking(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Jitter: func(time.Duration) time.Duration { return 0 }})
	release := make(chan struct{})
	started := make(chan struct{})
	old := CheckerFunc(func(ctx context.Context) Result {
		close(started)
		<-release
		return Result{} // would bring the backend UP
	})
	if err := s.Add(bid("a"), CheckConfig{Interval: time.Hour, Timeout: time.Hour, Rise: 1, Fall: 1}, old); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	<-started
	if err := s.Remove(bid("a")); err != nil {
		t.Fatal(err)
	}
	fresh := &scripted{calls: make(chan int, 1), results: []Result{{Err: errFail}}}
	if err := s.Add(bid("a"), CheckConfig{Interval: time.Hour, Rise: 1, Fall: 1, StartJitter: -1}, fresh); err != nil {
		t.Fatal(err)
	}
	<-fresh.calls // the new backend's first check fails: DOWN
	close(release)
	// The old check's pass must not count for the new backend. Wait for the loop to take the
	// old result (the fake clock's armings tell when the loop went back to waiting).
	waitWake(t, clk, clk.Now().Add(time.Hour))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := s.Snapshot().Backends[0]
	if st.State != backend.Down || st.Checks != 1 {
		t.Fatalf("new backend after the old check returned: %+v", st)
	}
}

// TestSchedulerChecked: Checked is closed once every backend of the start has a first result,
// whatever it is; backends added later do not hold it up; a removed one releases it.
func TestSchedulerChecked(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Jitter: func(max time.Duration) time.Duration { return max / 2 }})
	a := &scripted{calls: make(chan int, 10), results: []Result{{Err: errFail}}}
	b := &scripted{calls: make(chan int, 10)}
	c := &scripted{calls: make(chan int, 10)}
	s.Add(bid("a"), CheckConfig{Interval: 2 * time.Second}, a)
	s.Add(bid("b"), CheckConfig{Interval: 4 * time.Second}, b)
	s.Add(bid("c"), CheckConfig{Interval: 8 * time.Second}, c)
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	closed := func() bool {
		select {
		case <-s.Checked():
			return true
		default:
			return false
		}
	}
	waitWake(t, clk, clk.Now().Add(time.Second))
	clk.Advance(time.Second)
	<-a.calls // a fails its first check: a result all the same
	waitWake(t, clk, clk.Now().Add(time.Second))
	if closed() {
		t.Fatal("Checked closed with b and c unchecked")
	}
	s.Add(bid("late"), CheckConfig{Interval: time.Hour, StartJitter: -1}, &scripted{})
	if err := s.Remove(bid("c")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // b at 2 s
	<-b.calls
	select {
	case <-s.Checked():
	case <-time.After(5 * time.Second):
		t.Fatal("Checked not closed after b's first result (c removed)")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestSchedulerCheckedAfterSubscribers: when Checked is closed, the subscribers have been given
// every first result (the daemon's track rules know them before its VRRP instances start),
// even a subscriber that takes its time.
func TestSchedulerCheckedAfterSubscribers(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Jitter: func(max time.Duration) time.Duration { return max / 2 }})
	a := &scripted{calls: make(chan int, 10), results: []Result{{Err: errFail}}}
	b := &scripted{calls: make(chan int, 10)}
	s.Add(bid("a"), CheckConfig{Interval: 2 * time.Second, Rise: 1, Fall: 1}, a)
	s.Add(bid("b"), CheckConfig{Interval: 2 * time.Second, Rise: 1, Fall: 1}, b)
	var mu sync.Mutex
	seen := map[backend.ID]bool{} // backends whose first result a subscriber was given
	s.Subscribe(func(e Event) {
		if e.Reason == "not checked yet" {
			return
		}
		time.Sleep(20 * time.Millisecond) // a router that takes its time
		mu.Lock()
		seen[e.Backend] = true
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	waitWake(t, clk, clk.Now().Add(time.Second))
	clk.Advance(time.Second) // both at 1 s
	select {
	case <-s.Checked():
	case <-time.After(5 * time.Second):
		t.Fatal("Checked not closed after both first results")
	}
	mu.Lock()
	got := len(seen)
	mu.Unlock()
	if got != 2 {
		t.Errorf("Checked closed when the subscriber had %d first results of 2", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestSchedulerSubscribeReplays: a subscriber added while Run runs gets the current state of
// every backend first, then the changes; its cancel function stops the deliveries.
func TestSchedulerSubscribeReplays(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Jitter: func(time.Duration) time.Duration { return 0 }})
	a := &scripted{calls: make(chan int, 10), results: []Result{{}, {Err: errFail}}}
	s.Add(bid("a"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}, a)
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	<-a.calls
	waitWake(t, clk, clk.Now().Add(time.Second))

	var log eventLog
	unsubscribe := s.Subscribe(log.add)
	ev := log.all()
	if len(ev) != 1 || ev[0].Backend != bid("a") || ev[0].State != backend.Up || ev[0].Prev != backend.Up {
		t.Fatalf("replay: %+v", ev)
	}
	clk.Advance(time.Second)
	<-a.calls
	waitWake(t, clk, clk.Now().Add(time.Second))
	ev = log.all()
	if len(ev) != 2 || ev[1].State != backend.Down {
		t.Fatalf("after a failure: %+v", ev)
	}
	unsubscribe()
	if err := s.SetAdmin(bid("a"), backend.AdminMaint); err != nil {
		t.Fatal(err)
	}
	if n := len(log.all()); n != 2 {
		t.Fatalf("%d events after unsubscribing, want 2", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestMachineAlarm: a resource alarm is a typed part of the result; on_alarm decides whether it
// degrades or fails the backend, whatever the message says. A plain warning is never a failure.
func TestMachineAlarm(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		action AlarmAction
		r      Result
		want   backend.State
		reason string
	}{
		{"alarm degraded", AlarmDegraded, Result{Alarm: "publishers blocked: memory"}, backend.Degraded, "resource alarm: publishers blocked: memory"},
		{"alarm down", AlarmDown, Result{Alarm: "publishers blocked: memory"}, backend.Down, "on_alarm: down"},
		{"reworded alarm down", AlarmDown, Result{Alarm: "disk"}, backend.Down, "resource alarm: disk"},
		{"warning is not an alarm", AlarmDown, Result{Warning: "resource alarm: not really"}, backend.Degraded, "resource alarm: not really"},
		{"alarm and warning", AlarmDegraded, Result{Alarm: "disk", Warning: "slow"}, backend.Degraded, "resource alarm: disk; slow"},
		{"error wins", AlarmDown, Result{Err: errFail, Alarm: "disk"}, backend.Down, errFail.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMachine(bid("b"), CheckConfig{Rise: 1, Fall: 1, OnAlarm: tc.action}, now, 0)
			m.Begin(now)
			m.Observe(now, Result{}, 0) // UP
			m.Begin(now)
			ev := m.Observe(now, tc.r, 0)
			if m.State() != tc.want || len(ev) != 1 || !strings.Contains(ev[0].Reason, tc.reason) {
				t.Fatalf("state %v, events %+v; want %v with reason containing %q", m.State(), ev, tc.want, tc.reason)
			}
		})
	}
	if _, err := ParseAlarmAction("panic"); err == nil {
		t.Error("ParseAlarmAction(panic) succeeded")
	}
}

// TestSchedulerAddServing: a check added to a backend in service starts UP
// and takes it out only after fall failures.
func TestSchedulerAddServing(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Jitter: func(time.Duration) time.Duration { return 0 }})
	z := &scripted{calls: make(chan int, 10)}
	s.Add(bid("z"), CheckConfig{Interval: time.Hour}, z)
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	<-z.calls // running
	waitWake(t, clk, clk.Now().Add(time.Hour))
	var log eventLog
	s.Subscribe(log.add)
	log.ev = nil // the replay of z
	a := &scripted{calls: make(chan int, 10), results: []Result{{Err: errFail}, {Err: errFail}}}
	if err := s.AddServing(bid("a"), CheckConfig{Interval: time.Second, Fall: 2}, a); err != nil {
		t.Fatal(err)
	}
	// The announcement comes first; a's first check runs at once on
	// Run's goroutine, so its result (still UP) may follow it already.
	ev := log.all()
	if len(ev) == 0 || ev[0].State != backend.Up || ev[0].Reason != "check added while in service" {
		t.Fatalf("announcement: %+v", ev)
	}
	for _, e := range ev[1:] {
		if !e.FirstResult || e.State != backend.Up {
			t.Fatalf("after the announcement: %+v", ev)
		}
	}
	<-a.calls // first failure: still UP
	waitWake(t, clk, clk.Now().Add(time.Second))
	if st, _ := s.State(bid("a")); st != backend.Up {
		t.Fatalf("after one failure: %v", st)
	}
	clk.Advance(time.Second)
	<-a.calls
	waitWake(t, clk, clk.Now().Add(time.Second))
	if st, _ := s.State(bid("a")); st != backend.Down {
		t.Fatalf("after fall failures: %v", st)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestSchedulerAddServingFirstPass: the first check of a backend added in
// service has its event (Event.FirstResult) when it passes too, not only
// when it fails, and its reason replaces "check added while in service".
func TestSchedulerAddServingFirstPass(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Jitter: func(time.Duration) time.Duration { return 0 }})
	a := &scripted{calls: make(chan int, 10)}
	if err := s.AddServing(bid("a"), CheckConfig{Interval: time.Second}, a); err != nil {
		t.Fatal(err)
	}
	var log eventLog
	s.Subscribe(log.add)
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	<-a.calls // the first check, at once: it passes
	waitWake(t, clk, clk.Now().Add(time.Second))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ev := log.all()
	if len(ev) != 2 || ev[1].State != backend.Up || ev[1].Prev != backend.Up || !ev[1].FirstResult || ev[1].Reason != "first check passed" {
		t.Fatalf("events %+v, want the start-up UP then the first result", ev)
	}
	if st := s.Snapshot().Backends[0]; st.Reason != "first check passed" {
		t.Fatalf("reason after the first pass %q", st.Reason)
	}
}

// TestSchedulerAddInherited: backends handed over by the predecessor
// process start in its states, the operator's state included, and the
// checks carry on from there.
func TestSchedulerAddInherited(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Jitter: func(time.Duration) time.Duration { return 0 }})
	cfg := CheckConfig{Interval: time.Second, Fall: 2, Rise: 1}
	up := &scripted{calls: make(chan int, 10), results: []Result{{Err: errFail}}}
	drained := &scripted{calls: make(chan int, 10)}
	down := &scripted{calls: make(chan int, 10)}
	full := &scripted{calls: make(chan int, 10), results: []Result{{Full: true}}}
	for _, a := range []struct {
		name string
		c    Checker
		in   Inherited
	}{
		{"up", up, Inherited{Health: backend.Up, Reason: "check passed"}},
		{"drained", drained, Inherited{Health: backend.Degraded, Reason: "memory alarm", Admin: backend.AdminDrain}},
		{"down", down, Inherited{Health: backend.Down, Reason: "connection refused", Downs: 12,
			DownsAgo: []time.Duration{time.Hour, 50 * time.Minute, 40 * time.Minute, 30 * time.Minute, 20 * time.Minute, 9 * time.Minute, 8 * time.Minute, 7 * time.Minute, 3 * time.Minute, time.Second}}},
		{"full", full, Inherited{Health: backend.Degraded, Reason: FullWarning(""), Full: true}},
	} {
		if err := s.AddInherited(bid(a.name), cfg, a.c, a.in); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]struct {
		state, health backend.State
		admin         backend.Admin
		reason        string
	}{
		"up":      {backend.Up, backend.Up, backend.AdminNone, "check passed"},
		"drained": {backend.Drain, backend.Degraded, backend.AdminDrain, "memory alarm"},
		"down":    {backend.Down, backend.Down, backend.AdminNone, "connection refused"},
		"full":    {backend.Degraded, backend.Degraded, backend.AdminNone, FullWarning("")},
	}
	for _, b := range s.Snapshot().Backends {
		w := want[b.Backend.Name]
		if b.State != w.state || b.Health != w.health || b.Admin != w.admin || b.Reason != w.reason || b.Full != (b.Backend.Name == "full") {
			t.Errorf("%s: state %v health %v admin %v reason %q full %v, want %+v", b.Backend.Name, b.State, b.Health, b.Admin, b.Reason, b.Full, w)
		}
		// The DOWNs its checks took, the latest RecentDownsKept of them at their times.
		var downs uint64
		var recent []time.Time
		if b.Backend.Name == "down" {
			downs = 12
			for _, ago := range []time.Duration{40 * time.Minute, 30 * time.Minute, 20 * time.Minute, 9 * time.Minute, 8 * time.Minute, 7 * time.Minute, 3 * time.Minute, time.Second} {
				recent = append(recent, clk.Now().Add(-ago))
			}
		}
		if b.Downs != downs || !slices.Equal(b.RecentDowns, recent) {
			t.Errorf("%s: %d DOWNs at %v, want %d at %v", b.Backend.Name, b.Downs, b.RecentDowns, downs, recent)
		}
	}
	var log eventLog
	s.Subscribe(log.add)
	select {
	case <-s.Published():
		t.Fatal("published before Run")
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	select {
	case <-s.Published():
	case <-time.After(5 * time.Second):
		t.Fatal("initial states not published")
	}
	// A subscriber has the inherited states once they are published.
	if ev := log.all(); len(ev) < 4 || ev[0].State != backend.Up || ev[1].State != backend.Drain || ev[2].State != backend.Down ||
		ev[3].State != backend.Degraded || !ev[3].Full || ev[0].Full {
		t.Fatalf("published: %+v", ev)
	}
	select { // every first check observed
	case <-s.Checked():
	case <-time.After(5 * time.Second):
		t.Fatal("first checks not done")
	}
	// One failure of fall 2 leaves the inherited UP in service; one pass
	// of rise 1 brings the inherited DOWN up.
	if st, _ := s.State(bid("up")); st != backend.Up {
		t.Errorf("up after one failure: %v", st)
	}
	if st, _ := s.State(bid("down")); st != backend.Up {
		t.Errorf("down after one pass: %v", st)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
