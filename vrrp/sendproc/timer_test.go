package sendproc

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTimerArm: the timer is set only when what it is armed for
// changes: a repeating timer that expired since is still on its grid, a
// one-shot timer still pending is left alone, disarming twice sets it
// once; and the kernel holds the deadline and period asked.
func TestTimerArm(t *testing.T) {
	var mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		t.Fatal(err)
	}
	w, err := newAdvertTimer(mono.Nano())
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	const ms = int64(time.Millisecond)
	h := int64(time.Hour) // far enough that the kernel's timer never fires during the test
	steps := []struct {
		what            string
		now, at, period int64
		ok              bool
		sets            int
	}{
		{"first deadline, repeating", 0, h, 10 * ms, true, 1},
		{"the same again", 1 * ms, h, 10 * ms, true, 1},
		{"expired twice since: on its grid", h + 15*ms, h + 20*ms, 10 * ms, true, 1},
		{"off its grid", h + 15*ms, h + 25*ms, 10 * ms, true, 2},
		{"another period", h + 16*ms, h + 25*ms, 20 * ms, true, 3},
		{"one-shot", 2 * h, 3 * h, 0, true, 4},
		{"one-shot still pending", 2*h + ms, 3 * h, 0, true, 4},
		{"one-shot past: set again", 3*h + ms, 3 * h, 0, true, 5},
		{"disarmed", 3*h + ms, 0, 0, false, 6},
		{"disarmed again", 3*h + 2*ms, 0, 0, false, 6},
		{"armed again", 3*h + 2*ms, 4 * h, 10 * ms, true, 7},
	}
	for _, s := range steps {
		if err := w.arm(s.now, s.at, s.period, s.ok); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		if w.sets != s.sets {
			t.Fatalf("%s: %d timerfd_settime calls, want %d", s.what, w.sets, s.sets)
		}
	}
	var cur unix.ItimerSpec
	if err := unix.TimerfdGettime(w.fd, &cur); err != nil {
		t.Fatal(err)
	}
	if cur.Interval.Nano() != 10*ms {
		t.Fatalf("kernel's period %v, want 10ms", time.Duration(cur.Interval.Nano()))
	}
	// Due about 4 h after mono (the test took a moment of that).
	if left := time.Duration(cur.Value.Nano()); left <= 4*time.Hour-time.Minute || left > 4*time.Hour {
		t.Fatalf("kernel's timer due in %v, want about 4h", left)
	}
}

// TestTimerExpiresEarly: a one-shot timer whose kernel deadline lies
// before the server's (its CLOCK_MONOTONIC origin read too early) wakes
// wait before the deadline is due. The server, finding nothing due, arms
// the same deadline again: arm sets the spent timer again instead of
// taking it for pending, and wait wakes again until the deadline is due.
// With the expiry not seen, wait parks for good and the test fails.
func TestTimerExpiresEarly(t *testing.T) {
	epoch := time.Now()
	mono, err := readMonotonic()
	if err != nil {
		t.Fatal(err)
	}
	const early = 30 * time.Millisecond
	w, err := newAdvertTimer(mono - int64(early))
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	now := func() int64 { return int64(time.Since(epoch)) }
	at := int64(2 * early)
	errDue := errors.New("due")
	var wakes, earlyWakes int
	done := make(chan error, 1)
	go func() {
		done <- w.wait(func() error {
			wakes++
			n := now()
			if n >= at {
				return errDue
			}
			if wakes > 1 {
				earlyWakes++
			}
			return w.arm(n, at, 0, true)
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errDue) {
			t.Fatalf("wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		w.close()
		<-done
		t.Fatalf("the timer woke %d times (%d before its deadline) and not once the deadline was due: its spent one-shot timer was taken for pending", wakes, earlyWakes)
	}
	if earlyWakes == 0 {
		t.Fatalf("the timer never woke before its deadline (%d wakes): the test tested nothing", wakes)
	}
	t.Logf("%d wakes, %d before the deadline", wakes, earlyWakes)
}
