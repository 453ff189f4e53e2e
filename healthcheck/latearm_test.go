package healthcheck

import (
	"context"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// runOneCheck runs a scheduler on a fake clock with one backend checked
// every second, and returns once its first check (at once) started and
// the timer of the next is armed. The test's cleanup stops the scheduler.
func runOneCheck(t *testing.T) (*clock.Fake, *Scheduler, *scripted, CheckConfig) {
	t.Helper()
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewScheduler(Options{Clock: fake, Jitter: func(time.Duration) time.Duration { return 0 }})
	a := &scripted{calls: make(chan int, 10)}
	cfg := CheckConfig{Interval: time.Second, Rise: 1, Fall: 1}
	if err := s.Add(bid("a"), cfg, a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runScheduler(t, s, ctx, cancel)
	<-a.calls // the first check, at once
	waitWake(t, fake, fake.Now().Add(time.Second))
	return fake, s, a, cfg
}

// TestSchedulerDeadlinePassedWhileArming: when the time passes the next
// check's due time between the scheduler computing it and arming its
// timer (which then fires a whole interval late), the check still starts
// at once.
func TestSchedulerDeadlinePassedWhileArming(t *testing.T) {
	fake, s, a, cfg := runOneCheck(t)
	// The next time the loop arms its timer, the time reaches the due
	// time first; an update wakes the loop.
	fake.AdvanceAtNextArm(time.Second)
	if err := s.Update(bid("a"), cfg, a); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.calls:
	case <-time.After(5 * time.Second):
		t.Fatalf("the check due at %v, the time now, did not start", fake.Now())
	}
}

// TestSchedulerArmsAtDueTime: when the time moves between the scheduler
// working out the next check's due time and arming its timer, the timer
// is still armed for the due time, and the check starts then.
func TestSchedulerArmsAtDueTime(t *testing.T) {
	fake, s, a, cfg := runOneCheck(t)
	due := fake.Now().Add(time.Second)
	// The next time the loop arms its timer, 400 ms pass first; an
	// update wakes the loop.
	fake.DropArms()
	fake.AdvanceAtNextArm(400 * time.Millisecond)
	if err := s.Update(bid("a"), cfg, a); err != nil {
		t.Fatal(err)
	}
	if arm := fake.NextArmWhere(t, ownArm); !arm.At.Equal(due) {
		t.Fatalf("armed for %v, want the due time %v", arm.At, due)
	}
	if now := fake.Now(); !now.Equal(due.Add(-600 * time.Millisecond)) {
		t.Fatalf("the time is %v: it did not move before the arming", now)
	}
	fake.Set(due)
	select {
	case <-a.calls:
	case <-time.After(5 * time.Second):
		t.Fatalf("the check due at %v did not start", due)
	}
}
