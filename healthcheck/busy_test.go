package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// errTimedOut is a checker's timeout, as amqpcheck reports one.
var errTimedOut = fmt.Errorf("waiting for Connection.Start: %w", context.DeadlineExceeded)

// TestSchedulerBusy: a check that times out while Traffic says the backend is sending to its
// clients keeps the backend in service and is counted busy, not failed; a timeout without
// traffic and an error that is not a timeout count as failures; Traffic is asked about the
// second half of the check's timeout, only for timeouts.
func TestSchedulerBusy(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	reg, met := newTestMetrics(t)
	var (
		mu      sync.Mutex
		sending = true
		asked   []time.Duration
	)
	traffic := func(id backend.ID, d time.Duration) bool {
		mu.Lock()
		defer mu.Unlock()
		if id != bid("rmq1") {
			t.Errorf("traffic asked for %v", id)
		}
		asked = append(asked, d)
		return sending
	}
	s := NewScheduler(Options{Clock: clk, Metrics: met, Traffic: traffic, Jitter: func(time.Duration) time.Duration { return 0 }})
	refused := errors.New("connecting: connection refused")
	chk := &scripted{calls: make(chan int, 10), results: []Result{
		{},                 // UP
		{Err: errTimedOut}, // busy
		{Err: errTimedOut}, // busy
		{Err: refused},     // failure 1: not a timeout
		{Err: errTimedOut}, // failure 2 (no traffic): DOWN
		{Err: errTimedOut}, // DOWN: traffic or not, no excuse
	}}
	cfg := CheckConfig{Interval: time.Second, FastInterval: 200 * time.Millisecond, Timeout: 400 * time.Millisecond, Rise: 2, Fall: 2}
	if err := s.Add(bid("rmq1"), cfg, chk); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	wantStates := []backend.State{backend.Up, backend.Up, backend.Up, backend.Up, backend.Down, backend.Down}
	var next time.Time
	for i, want := range wantStates {
		if i == 4 || i == 5 {
			mu.Lock()
			sending = i == 5
			mu.Unlock()
		}
		if i > 0 {
			clk.Advance(next.Sub(clk.Now()))
		}
		<-chk.calls
		next = nextWake(t, clk) // armed once the result is observed
		if st, _ := s.State(bid("rmq1")); st != want {
			t.Fatalf("after check %d: %v, want %v", i+1, st, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	bs := s.Snapshot().Backends[0]
	if bs.BusyChecks != 2 || bs.Failures != 3 || !bs.BusySince.IsZero() {
		t.Errorf("status: %d busy, %d failures, busy since %v; want 2, 3, not busy", bs.BusyChecks, bs.Failures, bs.BusySince)
	}
	mu.Lock()
	if len(asked) != 4 || asked[0] != 200*time.Millisecond {
		t.Errorf("traffic asked %v, want 4 times (the timeouts) about 200ms", asked)
	}
	mu.Unlock()
	mfs := metricstest.Gather(t, reg)
	for r, want := range map[string]float64{"pass": 1, "busy": 2, "fail": 3} {
		if v := metricstest.Value(t, mfs, "rmqlb_healthcheck_checks_total", map[string]string{"listener": "l", "backend": "rmq1", "result": r}); v != want {
			t.Errorf("checks %s: %v, want %v", r, v, want)
		}
	}
}
