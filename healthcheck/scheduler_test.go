package healthcheck

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
)

// scripted is a Checker returning scripted results in order (then passes), announcing each call.
type scripted struct {
	mu      sync.Mutex
	results []Result
	calls   chan int
	n       int
}

func (s *scripted) Check(ctx context.Context) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.calls != nil {
		s.calls <- s.n
	}
	if len(s.results) == 0 {
		return Result{}
	}
	r := s.results[0]
	s.results = s.results[1:]
	return r
}

type recSink struct {
	mu     sync.Mutex
	calls  []string
	states map[string]backend.State
	fulls  map[string]bool // the last SetBackendFull of each backend
}

func (r *recSink) SetBackendFull(id backend.ID, full bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fulls == nil {
		r.fulls = map[string]bool{}
	}
	r.fulls[id.Name] = full
}

func (r *recSink) SetBackendState(id backend.ID, st backend.State, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "state "+id.Name+" "+st.String())
	if r.states == nil {
		r.states = map[string]backend.State{}
	}
	r.states[id.Name] = st
}

func (r *recSink) SetBackendWeight(id backend.ID, pct int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "weight "+id.Name+" "+itoa(pct))
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestSchedulerFakeClock drives Run with a fake clock: jittered first check, fall at
// fastinterval, downinterval, rise, events to a Sink and a Tracker, Snapshot, and a clean exit.
func TestSchedulerFakeClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t0 := clk.Now()
	chk := &scripted{calls: make(chan int, 10), results: []Result{
		{}, {Err: errFail}, {Err: errFail}, {Err: errFail}, // UP, then DOWN at the 3rd failure
		{Err: errFail}, {}, {}, // DOWN, rise 2
	}}
	s := NewScheduler(Options{Clock: clk, Jitter: func(max time.Duration) time.Duration {
		if max != time.Second {
			t.Errorf("jitter max %v, want the interval", max)
		}
		return 300 * time.Millisecond
	}})
	cfg := CheckConfig{Interval: time.Second, FastInterval: 200 * time.Millisecond, DownInterval: 3 * time.Second, Rise: 2, Fall: 3}
	if err := s.Add(bid("rmq1"), cfg, chk); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(bid("rmq1"), cfg, chk); err == nil {
		t.Fatal("duplicate accepted")
	}
	sink := &recSink{}
	s.Subscribe(Forward(sink))
	var deltas []int
	tr := NewTracker(func(d int) { deltas = append(deltas, d) })
	tr.TrackBackend(bid("rmq1"), -60)
	tr.TrackNoneServing("listener amqp", []backend.ID{bid("rmq1")}, -10)
	if tr.Delta() != -70 {
		t.Fatalf("initial delta %d", tr.Delta())
	}
	s.Subscribe(tr.Handle)
	var events []Event
	var evMu sync.Mutex
	s.Subscribe(func(e Event) { evMu.Lock(); events = append(events, e); evMu.Unlock() })

	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)

	// Each check: the loop is waiting on a timer for the due time; advance to it, the check
	// runs, the loop observes and arms the timer for the next check.
	next := nextWake(t, clk)
	var checkedAt []time.Duration
	for i := 0; i < 7; i++ {
		clk.Advance(next.Sub(clk.Now()))
		<-chk.calls
		checkedAt = append(checkedAt, clk.Now().Sub(t0))
		next = nextWake(t, clk)
		if i == 0 {
			if st, _ := s.State(bid("rmq1")); st != backend.Up {
				t.Fatalf("after first pass: %v", st)
			}
		}
		if i == 3 {
			if st, _ := s.State(bid("rmq1")); st != backend.Down {
				t.Fatalf("after 3 failures: %v", st)
			}
		}
	}
	want := []time.Duration{300 * time.Millisecond, 1300 * time.Millisecond, 1500 * time.Millisecond, 1700 * time.Millisecond,
		4700 * time.Millisecond, 7700 * time.Millisecond, 7900 * time.Millisecond}
	for i := range want {
		if checkedAt[i] != want[i] {
			t.Fatalf("checks at %v, want %v", checkedAt, want)
		}
	}
	snap := s.Snapshot()
	b, _ := json.Marshal(snap)
	t.Logf("snapshot: %s", b)
	bs := snap.Backends[0]
	if bs.State != backend.Up || bs.Checks != 7 || bs.Failures != 4 || bs.ConsecutivePasses != 2 || bs.LastError != errFail.Error() ||
		len(bs.History) != 3 || !strings.Contains(string(b), `"state":"UP"`) {
		t.Fatalf("status %+v", bs)
	}

	if err := s.SetAdmin(bid("rmq1"), backend.AdminMaint); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdmin(bid("nope"), backend.AdminMaint); err == nil {
		t.Fatal("unknown backend accepted")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	sink.mu.Lock()
	got := strings.Join(sink.calls, ", ")
	sink.mu.Unlock()
	// Start-up DOWN, UP, DOWN, UP, MAINT; weight once.
	if got != "state rmq1 DOWN, weight rmq1 100, state rmq1 UP, state rmq1 DOWN, state rmq1 UP, state rmq1 MAINT" {
		t.Fatalf("sink calls: %s", got)
	}
	// UP: both rules hold (0); DOWN: -70; UP: 0; MAINT: the backend's health is UP, but it is
	// not serving: the none-serving rule fails (-10).
	if strings.Trim(strings.Join(strings.Fields(fmtInts(deltas)), ","), "[]") != "0,-70,0,-10" {
		t.Fatalf("tracker deltas %v", deltas)
	}
}

func fmtInts(v []int) string { b, _ := json.Marshal(v); return strings.ReplaceAll(string(b), ",", " ") }

// TestSchedulerSlowStart: after coming back from DOWN the weight ramps through ticks of the
// fake clock.
func TestSchedulerSlowStart(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	chk := &scripted{calls: make(chan int, 10), results: []Result{{}, {Err: errFail}, {}}}
	s := NewScheduler(Options{Clock: clk})
	s.Add(bid("b"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1, StartJitter: -1, SlowStart: 4 * time.Second}, chk)
	sink := &recSink{}
	s.Subscribe(Forward(sink))
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	// First check at once (no jitter): the loop starts it without a timer.
	<-chk.calls
	next := nextWake(t, clk)
	for i := 0; i < 2; i++ {
		clk.Advance(next.Sub(clk.Now()))
		<-chk.calls
		next = nextWake(t, clk)
	}
	// Now back UP with weight 1 %; ticks every 200 ms until 4 s.
	for clk.Now().Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) < 7*time.Second {
		clk.Advance(next.Sub(clk.Now()))
		select {
		case <-chk.calls:
		default:
		}
		next = nextWake(t, clk)
	}
	stop()
	sink.mu.Lock()
	defer sink.mu.Unlock()
	got := strings.Join(sink.calls, ", ")
	if !strings.Contains(got, "state b DOWN, state b UP, weight b 1, weight b 5, weight b 10") || !strings.HasSuffix(got, "weight b 100") {
		t.Fatalf("sink calls: %s", got)
	}
}

// TestSchedulerTCP runs real TCP checks (system clock) against a listener that is then closed.
func TestSchedulerTCP(t *testing.T) {
	defer goleak.VerifyNone(t)
	ln := listen(t)
	s := NewScheduler(Options{})
	s.Add(bid("tcp"), CheckConfig{Interval: 20 * time.Millisecond, Rise: 1, Fall: 2, StartJitter: -1}, &TCPCheck{Addr: ln.Addr().(*net.TCPAddr).AddrPort()})
	states := make(chan backend.State, 10)
	s.Subscribe(func(e Event) {
		if e.State != e.Prev {
			states <- e.State
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	if st := <-states; st != backend.Up {
		t.Fatalf("first state %v", st)
	}
	ln.Close()
	if st := <-states; st != backend.Down {
		t.Fatalf("after close %v", st)
	}
	stop()
	if bs := s.Snapshot().Backends[0]; !strings.Contains(bs.Reason, "connection refused") {
		t.Fatalf("reason %q", bs.Reason)
	}
}

// runScheduler runs s in a goroutine; the returned stop cancels it and returns Run's error. It
// is also called by t.Cleanup, so that a failing test leaves no goroutine behind.
func runScheduler(t *testing.T, s *Scheduler, ctx context.Context, cancel context.CancelFunc) func() error {
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}
