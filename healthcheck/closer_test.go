package healthcheck

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// closingChecker passes and counts the calls of Close.
type closingChecker struct{ closed atomic.Int32 }

func (c *closingChecker) Check(context.Context) Result { return Result{} }
func (c *closingChecker) Close() error                 { c.closed.Add(1); return nil }

// TestSchedulerClosesCheckers: a checker that keeps something between checks (an AMQP check
// holding the connection a blocked broker would not notice closing) is closed when its
// backend is removed, when Update replaces it and when Run returns, and not before.
func TestSchedulerClosesCheckers(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: clk})
	cfg := CheckConfig{Interval: time.Second, Timeout: time.Second}
	removed, replaced, replacement, kept := &closingChecker{}, &closingChecker{}, &closingChecker{}, &closingChecker{}
	for name, c := range map[string]Checker{"removed": removed, "replaced": replaced, "kept": kept} {
		if err := s.Add(bid(name), cfg, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(bid("kept"), cfg, kept); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(bid("replaced"), cfg, replacement); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(bid("removed")); err != nil {
		t.Fatal(err)
	}
	if removed.closed.Load() != 1 || replaced.closed.Load() != 1 || kept.closed.Load() != 0 || replacement.closed.Load() != 0 {
		t.Fatalf("closed: removed %d, replaced %d, kept %d, replacement %d; want 1 1 0 0",
			removed.closed.Load(), replaced.closed.Load(), kept.closed.Load(), replacement.closed.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if kept.closed.Load() != 1 || replacement.closed.Load() != 1 || removed.closed.Load() != 1 {
		t.Errorf("after Run: kept %d, replacement %d, removed %d closed; want 1 each",
			kept.closed.Load(), replacement.closed.Load(), removed.closed.Load())
	}
}
