package healthcheck

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestSchedulerAlive: a scheduler before Run answers Alive at once; a
// running one answers through its loop; while a subscriber holds the
// loop (a bug the contract forbids) Alive returns once its context is
// done, saying the loop did not answer; once the loop turns again it
// answers; after Run it answers at once.
func TestSchedulerAlive(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk, Jitter: func(time.Duration) time.Duration { return 0 }})
	chk := &scripted{calls: make(chan int, 10), results: []Result{{}, {Err: errFail}}}
	if err := s.Add(bid("rmq1"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}, chk); err != nil {
		t.Fatal(err)
	}
	var block atomic.Bool
	entered, release := make(chan Event, 1), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	s.Subscribe(func(e Event) {
		if block.Load() {
			entered <- e
			<-release
		}
	})
	alive := func(within time.Duration) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		return s.Alive(ctx)
	}
	if err := alive(time.Millisecond); err != nil {
		t.Fatalf("Alive before Run: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stop := runScheduler(t, s, ctx, cancel)
	t.Cleanup(unblock) // runs before runScheduler's stop: cleanups run last first

	<-chk.calls // the first check, at once (no jitter): UP
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if st, _ := s.State(bid("rmq1")); st == backend.Up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not UP after the first check")
		}
	}
	if err := alive(10 * time.Second); err != nil {
		t.Fatalf("Alive of a running scheduler: %v", err)
	}

	// The second result takes the backend DOWN: the loop hands the
	// change to the subscriber, which holds it.
	at := nextWake(t, clk)
	block.Store(true)
	clk.Advance(at.Sub(clk.Now()))
	<-chk.calls
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no event after the second check")
	}
	err := alive(200 * time.Millisecond)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "health checks' loop did not answer") {
		t.Fatalf("Alive with the loop held: %v", err)
	}
	block.Store(false)
	unblock()
	if err := alive(10 * time.Second); err != nil {
		t.Fatalf("Alive once the loop turns again: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := alive(time.Millisecond); err != nil {
		t.Fatalf("Alive after Run: %v", err)
	}
}
