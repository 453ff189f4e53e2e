package healthcheck

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// lateArmClock is a Fake whose time moves on by step (once, when set)
// just before a timer is armed: as if the time passed the deadline while
// the scheduler worked it out.
type lateArmClock struct {
	*clock.Fake
	step atomic.Int64 // nanoseconds; 0: none
}

func (c *lateArmClock) advance() {
	if d := c.step.Swap(0); d > 0 {
		c.Fake.Advance(time.Duration(d))
	}
}

func (c *lateArmClock) NewTimer(d time.Duration) Timer {
	c.advance()
	return &lateArmTimer{Timer: c.Fake.NewTimer(d), c: c}
}

type lateArmTimer struct {
	Timer
	c *lateArmClock
}

func (t *lateArmTimer) Reset(d time.Duration) bool {
	t.c.advance()
	return t.Timer.Reset(d)
}

// TestSchedulerDeadlinePassedWhileArming: when the time passes the next
// check's due time between the scheduler computing it and arming its
// timer (which then fires a whole interval late), the check still starts
// at once.
func TestSchedulerDeadlinePassedWhileArming(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	clk := &lateArmClock{Fake: fake}
	s := NewScheduler(Options{Clock: clk, Jitter: func(time.Duration) time.Duration { return 0 }})
	a := &scripted{calls: make(chan int, 10)}
	cfg := CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}
	if err := s.Add(bid("a"), cfg, a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runScheduler(t, s, ctx, cancel)
	<-a.calls // the first check, at once
	waitWake(t, fake, fake.Now().Add(time.Second))
	// The next time the loop arms its timer, the time reaches the due
	// time first; an update wakes the loop.
	clk.step.Store(int64(time.Second))
	if err := s.Update(bid("a"), cfg, a); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.calls:
	case <-time.After(5 * time.Second):
		t.Fatalf("the check due at %v, the time now, did not start", fake.Now())
	}
}
