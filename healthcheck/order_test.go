package healthcheck

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestSchedulerEventOrder: an operator's MAINT set while the loop delivers the UP of a check
// observed just before must reach subscribers after that UP, or the balancer, which keeps the
// last state it was given, would send new connections to a broker in maintenance. The
// interleaving is forced: the loop is held where it logs, after it computed UP and before it
// delivers it, while SetAdmin runs.
func TestSchedulerEventOrder(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var s *Scheduler
	adminDone := make(chan struct{})
	core, _ := observer.New(zap.InfoLevel)
	core = zapcore.RegisterHooks(core, func(e zapcore.Entry) error {
		if e.Message == "check conclusive again" {
			go func() {
				s.SetAdmin(bid("b"), backend.AdminMaint)
				close(adminDone)
			}()
			select { // SetAdmin must wait for the UP to be delivered; give it the chance not to
			case <-adminDone:
			case <-time.After(200 * time.Millisecond):
			}
		}
		return nil
	})
	s = NewScheduler(Options{Clock: clk, Logger: zap.New(core)})
	if err := s.Add(bid("b"), CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}, CheckerFunc(nil)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	s.Subscribe(func(e Event) { mu.Lock(); got = append(got, e.State.String()); mu.Unlock() })

	s.mu.Lock()
	e := s.backends[bid("b")]
	s.mu.Unlock()
	for _, r := range []Result{Failed(fmt.Errorf("connecting: %w", syscall.EMFILE)), {}} {
		s.mu.Lock()
		e.m.Begin(clk.Now())
		s.mu.Unlock()
		s.observe(result{e: e, r: r})
	}
	<-adminDone
	st, _ := s.State(bid("b"))
	mu.Lock()
	defer mu.Unlock()
	if st != backend.Maint || len(got) == 0 || got[len(got)-1] != backend.Maint.String() {
		t.Fatalf("state %v, subscriber got %v: the last event must be MAINT", st, got)
	}
}
