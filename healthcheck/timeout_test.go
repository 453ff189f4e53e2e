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
)

// TestSchedulerTimeoutOnClock: a check's deadline runs on the scheduler's
// clock. A check that never answers has the deadline start+timeout and is
// ended by it when the clock gets there, not before and not by the system
// clock; its latency is the whole timeout, and it counts as timed out, so
// Traffic is asked about it (busy within busy_grace).
func TestSchedulerTimeoutOnClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var (
		mu    sync.Mutex
		asked []time.Duration
	)
	traffic := func(_ backend.ID, d time.Duration) bool {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, d)
		return true
	}
	s := NewScheduler(Options{Clock: clk, Traffic: traffic, Jitter: func(time.Duration) time.Duration { return 0 }})
	type call struct {
		at       time.Time
		deadline time.Time
		ok       bool
	}
	calls, ended := make(chan call, 1), make(chan error, 1)
	first := true
	chk := CheckerFunc(func(ctx context.Context) Result {
		dl, ok := ctx.Deadline()
		calls <- call{at: clk.Now(), deadline: dl, ok: ok}
		if first { // the first check passes: UP
			first = false
			return Result{}
		}
		<-ctx.Done() // a broker that never answers
		ended <- ctx.Err()
		return Result{Err: fmt.Errorf("waiting for Connection.Start: %w", ctx.Err())}
	})
	const timeout = 400 * time.Millisecond
	if err := s.Add(bid("rmq1"), CheckConfig{Interval: time.Second, Timeout: timeout, Rise: 1, Fall: 1}, chk); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	<-calls
	next := nextWake(t, clk)
	clk.Set(next)
	c := <-calls
	if !c.ok || !c.deadline.Equal(next.Add(timeout)) {
		t.Fatalf("check started at %v has deadline %v (%v), want %v on the scheduler's clock", c.at, c.deadline, c.ok, next.Add(timeout))
	}
	// The deadline is armed on the clock; a moment before it, the check
	// still runs, whatever the real time.
	clk.WaitArmedWhere(t, func(a clock.Arm) bool { return a.Context && a.At.Equal(next.Add(timeout)) })
	clk.Advance(timeout - time.Millisecond)
	select {
	case err := <-ended:
		t.Fatalf("check ended %v before its deadline: %v", time.Millisecond, err)
	case <-time.After(2 * timeout): // twice the timeout in real time
	}
	clk.Advance(time.Millisecond)
	select {
	case err := <-ended:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("check ended by %v, want its deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("check not ended at its deadline")
	}
	nextWake(t, clk) // the result observed
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	bs := s.Snapshot().Backends[0]
	if bs.State != backend.Up || bs.BusyChecks != 1 || bs.Failures != 0 || bs.LastLatency != timeout {
		t.Errorf("status: %v, %d busy, %d failures, latency %v; want UP, 1 busy, 0 failures, %v", bs.State, bs.BusyChecks, bs.Failures, bs.LastLatency, timeout)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != timeout/2 {
		t.Errorf("traffic asked %v, want once about %v", asked, timeout/2)
	}
}
