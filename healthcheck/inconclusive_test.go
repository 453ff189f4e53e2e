package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestSchedulerInconclusive: checks this host cannot make (no file descriptor) change no state
// and publish no event, however many; an inconclusive first check does not complete the first
// checks (Checked); they are counted apart in the metrics and status, and logged once when a
// streak begins and once when it ends.
func TestSchedulerInconclusive(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	reg, met := newTestMetrics(t)
	core, logs := observer.New(zap.InfoLevel)
	s := NewScheduler(Options{Clock: clk, Metrics: met, Logger: zap.New(core), Jitter: func(time.Duration) time.Duration { return 0 }})
	local := Failed(errNoFD)
	chk := &scripted{calls: make(chan int, 10), results: []Result{local, {}, local, local, local, {}}}
	cfg := CheckConfig{Interval: time.Second, FastInterval: 200 * time.Millisecond, Rise: 2, Fall: 2}
	if err := s.Add(bid("rmq1"), cfg, chk); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		events []Event
	)
	s.Subscribe(func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	wantStates := []backend.State{backend.Down, backend.Up, backend.Up, backend.Up, backend.Up, backend.Up}
	var next time.Time
	for i, want := range wantStates {
		if i > 0 {
			clk.Advance(next.Sub(clk.Now()))
		}
		<-chk.calls
		next = nextWake(t, clk) // armed once the result is observed
		if st, _ := s.State(bid("rmq1")); st != want {
			t.Fatalf("after check %d: %v, want %v", i+1, st, want)
		}
		select {
		case <-s.Checked():
			if i == 0 {
				t.Fatal("an inconclusive first check completed the first checks")
			}
		default:
			if i > 0 {
				t.Fatalf("first checks not complete after check %d", i+1)
			}
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(events) != 2 || events[0].State != backend.Down || events[1].State != backend.Up || events[1].Prev != backend.Down {
		t.Errorf("events %+v, want the initial DOWN and DOWN to UP", events)
	}
	mu.Unlock()
	bs := s.Snapshot().Backends[0]
	if bs.InconclusiveChecks != 4 || bs.Checks != 6 || bs.Failures != 0 || !bs.InconclusiveSince.IsZero() ||
		!strings.Contains(bs.LastInconclusive, "too many open files") {
		t.Errorf("status: %+v", bs)
	}
	mfs := metricstest.Gather(t, reg)
	for r, want := range map[string]float64{"pass": 2, "inconclusive": 4, "fail": 0} {
		if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_checks_total", map[string]string{"listener": "l", "backend": "rmq1", "result": r}); v != want {
			t.Errorf("checks %s: %v, want %v", r, v, want)
		}
	}
	began := logs.FilterMessageSnippet("check inconclusive").All()
	ended := logs.FilterMessageSnippet("check conclusive again").All()
	if len(began) != 2 || len(ended) != 2 || began[0].Level != zap.WarnLevel {
		t.Errorf("logged %d streaks begun, %d ended, want 2 of each (one per streak): %v", len(began), len(ended), logs.AllUntimed())
	}
	for _, e := range began {
		if f := e.ContextMap(); f["backend"] != "l/rmq1" || !strings.Contains(f["error"].(string), "too many open files") {
			t.Errorf("log fields %v", f)
		}
	}
}

// TestTCPCheckLocalShortage: a TCP check whose socket cannot be made for want of a file
// descriptor is inconclusive, one refused by the backend fails.
func TestTCPCheckLocalShortage(t *testing.T) {
	ln := listen(t)
	addr := netip.MustParseAddrPort(ln.Addr().String())
	noFD := func(context.Context, string, string, syscall.RawConn) error {
		return os.NewSyscallError("socket", syscall.EMFILE)
	}
	c := &TCPCheck{Addr: addr, Dialer: net.Dialer{ControlContext: noFD}}
	r := c.Check(context.Background())
	if !r.Inconclusive || !errors.Is(r.Err, syscall.EMFILE) || !strings.HasPrefix(r.Err.Error(), "local shortage: connecting to "+addr.String()) {
		t.Errorf("check without a file descriptor: %+v", r)
	}
	if r := (&TCPCheck{Addr: addr}).Check(context.Background()); !r.Passed() {
		t.Errorf("check of a listener: %+v", r)
	}
	ln.Close()
	if r := (&TCPCheck{Addr: addr}).Check(context.Background()); r.Inconclusive || !errors.Is(r.Err, syscall.ECONNREFUSED) {
		t.Errorf("check of a closed port: %+v", r)
	}
}
