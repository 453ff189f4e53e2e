package clock_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// received returns the value waiting on c, if any, without blocking.
func received(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeNow(t *testing.T) {
	tests := []struct {
		name string
		move func(c *clock.Fake)
		want time.Time
	}{
		{"start", func(*clock.Fake) {}, t0},
		{"advance", func(c *clock.Fake) { c.Advance(1500 * time.Millisecond) }, t0.Add(1500 * time.Millisecond)},
		{"advance twice", func(c *clock.Fake) { c.Advance(time.Second); c.Advance(time.Minute) }, t0.Add(61 * time.Second)},
		{"advance zero", func(c *clock.Fake) { c.Advance(0) }, t0},
		{"advance back", func(c *clock.Fake) { c.Advance(-time.Hour) }, t0.Add(-time.Hour)},
		{"set", func(c *clock.Fake) { c.Set(t0.Add(24 * time.Hour)) }, t0.Add(24 * time.Hour)},
		{"set back", func(c *clock.Fake) { c.Set(t0.Add(-time.Minute)) }, t0.Add(-time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(t0)
			tt.move(c)
			if got := c.Now(); !got.Equal(tt.want) {
				t.Fatalf("Now() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFakeZeroValue(t *testing.T) {
	var c clock.Fake
	if !c.Now().IsZero() {
		t.Fatalf("zero Fake: Now() = %v, want the zero time", c.Now())
	}
	tm := c.NewTimer(time.Second)
	ch := c.Changed()
	c.Advance(time.Second)
	if v, ok := received(tm.C()); !ok || !v.Equal(time.Time{}.Add(time.Second)) {
		t.Fatalf("zero Fake: timer sent %v, %v; want 1s, true", v, ok)
	}
	select {
	case <-ch:
	default:
		t.Fatal("zero Fake: Changed not closed by Advance")
	}
}

// TestFakeFiring advances a Fake in steps and checks which timers have fired
// after each step and the value each sent: its deadline.
func TestFakeFiring(t *testing.T) {
	tests := []struct {
		name   string
		timers []time.Duration // NewTimer durations, all created at t0
		steps  []time.Duration // Advance durations
		fired  [][]int         // after each step: indices of the timers that fired in it
	}{
		{
			name:   "one timer, exact deadline",
			timers: []time.Duration{time.Second},
			steps:  []time.Duration{999 * time.Millisecond, time.Millisecond, time.Hour},
			fired:  [][]int{nil, {0}, nil},
		},
		{
			name:   "several due in one advance",
			timers: []time.Duration{3 * time.Second, time.Second, 2 * time.Second, time.Second},
			steps:  []time.Duration{5 * time.Second},
			fired:  [][]int{{0, 1, 2, 3}},
		},
		{
			name:   "in steps",
			timers: []time.Duration{3 * time.Second, time.Second, 2 * time.Second, 10 * time.Second},
			steps:  []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond, 6 * time.Second, time.Second},
			fired:  [][]int{{1}, {0, 2}, nil, {3}},
		},
		{
			name:   "zero advance fires nothing new",
			timers: []time.Duration{time.Nanosecond},
			steps:  []time.Duration{0, time.Nanosecond},
			fired:  [][]int{nil, {0}},
		},
		{
			name:   "going back fires nothing",
			timers: []time.Duration{time.Second},
			steps:  []time.Duration{-time.Minute, time.Minute, time.Second},
			fired:  [][]int{nil, nil, {0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(t0)
			var timers []clock.Timer
			for _, d := range tt.timers {
				timers = append(timers, c.NewTimer(d))
			}
			for i, d := range tt.steps {
				c.Advance(d)
				var fired []int
				for j, tm := range timers {
					v, ok := received(tm.C())
					if !ok {
						continue
					}
					fired = append(fired, j)
					if want := t0.Add(tt.timers[j]); !v.Equal(want) {
						t.Errorf("step %d: timer %d sent %v, want its deadline %v", i, j, v, want)
					}
				}
				if !slices.Equal(fired, tt.fired[i]) {
					t.Fatalf("step %d (to %v): fired %v, want %v", i, c.Now().Sub(t0), fired, tt.fired[i])
				}
			}
		})
	}
}

func TestFakeSetFires(t *testing.T) {
	c := clock.NewFake(t0)
	a := c.NewTimer(time.Minute)
	b := c.NewTimer(time.Hour)
	c.Set(t0.Add(time.Hour - 1))
	if v, ok := received(a.C()); !ok || !v.Equal(t0.Add(time.Minute)) {
		t.Fatalf("a sent %v, %v; want t0+1m, true", v, ok)
	}
	if v, ok := received(b.C()); ok {
		t.Fatalf("b fired early at %v", v)
	}
	c.Set(t0.Add(time.Hour))
	if v, ok := received(b.C()); !ok || !v.Equal(t0.Add(time.Hour)) {
		t.Fatalf("b sent %v, %v; want t0+1h, true", v, ok)
	}
}

func TestFakeResetMovesDeadline(t *testing.T) {
	c := clock.NewFake(t0)
	tm := c.NewTimer(2 * time.Second)
	c.Advance(time.Second)
	if !tm.Reset(2 * time.Second) {
		t.Fatal("Reset of an armed timer returned false")
	}
	c.Advance(time.Second) // the old deadline passes
	if v, ok := received(tm.C()); ok {
		t.Fatalf("fired at the old deadline: %v", v)
	}
	if got := c.Armed(); !slices.Equal(got, []time.Time{t0.Add(3 * time.Second)}) {
		t.Fatalf("Armed() = %v, want [t0+3s]", got)
	}
	c.Advance(time.Second)
	if v, ok := received(tm.C()); !ok || !v.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("sent %v, %v; want t0+3s, true", v, ok)
	}
}

// TestFakeResetAt: ResetAt arms for the deadline given, however far the
// time moved since the caller worked it out; the arming's D is the time
// left, and a deadline passed fires at once with the Fake's time.
func TestFakeResetAt(t *testing.T) {
	c := clock.NewFake(t0)
	tm := c.NewTimer(time.Hour)
	deadline := c.Now().Add(2 * time.Second)
	c.Advance(1500 * time.Millisecond) // the time moves before the arming
	c.DropArms()
	if !tm.ResetAt(deadline) {
		t.Fatal("ResetAt of an armed timer returned false")
	}
	if a := c.NextArm(t); !a.At.Equal(deadline) || a.D != 500*time.Millisecond {
		t.Fatalf("armed %+v; want at t0+2s, D 500ms", a)
	}
	c.Advance(499 * time.Millisecond)
	if v, ok := received(tm.C()); ok {
		t.Fatalf("fired early: %v", v)
	}
	c.Advance(time.Millisecond)
	if v, ok := received(tm.C()); !ok || !v.Equal(deadline) {
		t.Fatalf("sent %v, %v; want t0+2s, true", v, ok)
	}

	// A deadline already passed fires at once, sending the time.
	if tm.ResetAt(t0) {
		t.Fatal("ResetAt of a received timer returned true")
	}
	if v, ok := received(tm.C()); !ok || !v.Equal(c.Now()) {
		t.Fatalf("sent %v, %v; want %v, true", v, ok, c.Now())
	}
	if got := c.Armed(); len(got) != 0 {
		t.Fatalf("Armed() = %v, want none", got)
	}
}

// TestFakeAdvanceAtNextArm: the time moves once, at the next arming and
// before it: Reset counts from the time moved, ResetAt and NewTimerAt keep
// their deadlines, timers made due by the move fire, and a move not made
// can be cancelled.
func TestFakeAdvanceAtNextArm(t *testing.T) {
	c := clock.NewFake(t0)
	a := c.NewTimer(time.Second)
	c.AdvanceAtNextArm(2 * time.Second)
	if !c.Now().Equal(t0) {
		t.Fatalf("the time moved before an arming: %v", c.Now())
	}
	b := c.NewTimer(time.Second)
	if v, ok := received(a.C()); !ok || !v.Equal(t0.Add(time.Second)) {
		t.Fatalf("timer due in the move sent %v, %v; want t0+1s, true", v, ok)
	}
	if got := c.Armed(); !slices.Equal(got, []time.Time{t0.Add(3 * time.Second)}) {
		t.Fatalf("Armed() = %v, want [t0+3s]", got)
	}
	b.Reset(time.Second) // moves no more
	if got := c.Armed(); !slices.Equal(got, []time.Time{t0.Add(3 * time.Second)}) {
		t.Fatalf("after a second arming Armed() = %v, want [t0+3s]", got)
	}

	c.AdvanceAtNextArm(500 * time.Millisecond)
	b.ResetAt(t0.Add(4 * time.Second))
	if got, want := c.Now(), t0.Add(2500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("time %v, want %v", got, want)
	}
	if got := c.Armed(); !slices.Equal(got, []time.Time{t0.Add(4 * time.Second)}) {
		t.Fatalf("after ResetAt Armed() = %v, want [t0+4s]", got)
	}

	c.AdvanceAtNextArm(time.Second)
	c.AdvanceAtNextArm(0)
	b.Reset(time.Second)
	if got, want := c.Now(), t0.Add(2500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("a cancelled move was made: time %v, want %v", got, want)
	}

	// NewTimerAt keeps its deadline too.
	c.AdvanceAtNextArm(time.Second)
	d := c.NewTimerAt(t0.Add(4 * time.Second))
	defer d.Stop()
	if got, want := c.Now(), t0.Add(3500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("time %v, want %v", got, want)
	}
	if got := c.Armed(); !slices.Equal(got, []time.Time{t0.Add(4 * time.Second)}) {
		t.Fatalf("after NewTimerAt Armed() = %v, want [t0+4s] (b fired in the move)", got)
	}
}

func TestFakeStopPreventsFiring(t *testing.T) {
	c := clock.NewFake(t0)
	tm := c.NewTimer(time.Second)
	other := c.NewTimer(time.Second)
	tm.Stop()
	c.Advance(time.Hour)
	if v, ok := received(tm.C()); ok {
		t.Fatalf("stopped timer sent %v", v)
	}
	if _, ok := received(other.C()); !ok {
		t.Fatal("the other timer did not fire")
	}
	if got := c.Armed(); len(got) != 0 {
		t.Fatalf("Armed() = %v after all stopped or fired", got)
	}
}

func TestFakeArmed(t *testing.T) {
	c := clock.NewFake(t0)
	if got := c.Armed(); len(got) != 0 {
		t.Fatalf("fresh Armed() = %v", got)
	}
	c.NewTimer(3 * time.Second)
	b := c.NewTimer(time.Second)
	c.NewTimer(0) // fires at once: never armed
	c.NewTimer(2 * time.Second)
	want := []time.Time{t0.Add(time.Second), t0.Add(2 * time.Second), t0.Add(3 * time.Second)}
	if got := c.Armed(); !slices.Equal(got, want) {
		t.Fatalf("Armed() = %v, want %v", got, want)
	}
	b.Stop()
	c.Advance(2 * time.Second)
	if got := c.Armed(); !slices.Equal(got, want[2:]) {
		t.Fatalf("after Stop and Advance: Armed() = %v, want %v", got, want[2:])
	}
}

func TestFakeChanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *clock.Fake, tm clock.Timer)
		closed bool
	}{
		{"nothing", func(*clock.Fake, clock.Timer) {}, false},
		{"Now", func(c *clock.Fake, _ clock.Timer) { c.Now() }, false},
		{"Armed", func(c *clock.Fake, _ clock.Timer) { c.Armed() }, false},
		{"NewTimer", func(c *clock.Fake, _ clock.Timer) { c.NewTimer(time.Second) }, true},
		{"Stop", func(_ *clock.Fake, tm clock.Timer) { tm.Stop() }, true},
		{"Reset", func(_ *clock.Fake, tm clock.Timer) { tm.Reset(time.Second) }, true},
		{"Advance", func(c *clock.Fake, _ clock.Timer) { c.Advance(time.Millisecond) }, true},
		{"Set", func(c *clock.Fake, _ clock.Timer) { c.Set(t0) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(t0)
			tm := c.NewTimer(time.Hour)
			ch := c.Changed()
			tt.change(c, tm)
			select {
			case <-ch:
				if !tt.closed {
					t.Fatal("Changed closed without a change")
				}
			default:
				if tt.closed {
					t.Fatal("Changed not closed")
				}
			}
		})
	}
}

func TestFakeNextArm(t *testing.T) {
	c := clock.NewFake(t0)
	a := c.NewTimer(time.Second)
	c.NewTimer(-time.Second)
	c.Advance(time.Minute)
	a.Reset(2 * time.Second)
	a.Stop() // not an arming
	want := []clock.Arm{
		{At: t0.Add(time.Second), D: time.Second},
		{At: t0.Add(-time.Second), D: -time.Second},
		{At: t0.Add(time.Minute + 2*time.Second), D: 2 * time.Second},
	}
	for i, w := range want {
		if got := c.NextArm(t); got != w {
			t.Fatalf("arming %d: %+v, want %+v", i, got, w)
		}
	}

	// An arming by another goroutine, before or while NextArm waits.
	go c.NewTimer(time.Hour)
	if got, w := c.NextArm(t), (clock.Arm{At: t0.Add(time.Minute + time.Hour), D: time.Hour}); got != w {
		t.Fatalf("arming from a goroutine: %+v, want %+v", got, w)
	}
}

// TestFakeDropArms: after DropArms, NextArm returns the armings made
// since, not the earlier ones; the timers stay armed.
func TestFakeDropArms(t *testing.T) {
	c := clock.NewFake(t0)
	a := c.NewTimer(time.Second)
	c.NewTimer(2 * time.Second)
	c.DropArms()
	a.Reset(3 * time.Second)
	if got, w := c.NextArm(t), (clock.Arm{At: t0.Add(3 * time.Second), D: 3 * time.Second}); got != w {
		t.Fatalf("arming after DropArms: %+v, want %+v", got, w)
	}
	if got := c.Armed(); len(got) != 2 {
		t.Fatalf("armed %v, want both timers", got)
	}
}

func TestFakeWaitArmed(t *testing.T) {
	c := clock.NewFake(t0)
	c.NewTimer(time.Second)
	c.WaitArmed(t, t0.Add(time.Second)) // already armed

	done := make(chan struct{})
	go func() {
		defer close(done)
		tm := c.NewTimer(time.Minute)
		tm.Reset(time.Hour)
	}()
	c.WaitArmed(t, t0.Add(time.Hour))
	<-done
}

// TestFakeWhere checks the armings of WithTimeout's deadlines are marked
// Context, and that NextArmWhere and WaitArmedWhere find the armings a test
// picks: NextArmWhere the oldest match, leaving the armings it passes over
// to NextArm; WaitArmedWhere a pending timer whose last arming matches.
func TestFakeWhere(t *testing.T) {
	c := clock.NewFake(t0)
	own := func(a clock.Arm) bool { return !a.Context }
	_, cancel := clock.WithTimeout(context.Background(), c, time.Second)
	defer cancel()
	tm := c.NewTimer(time.Second) // the same deadline as the context's
	c.WaitArmedWhere(t, func(a clock.Arm) bool { return a.Context && a.At.Equal(t0.Add(time.Second)) })
	c.WaitArmedWhere(t, func(a clock.Arm) bool { return own(a) && a.At.Equal(t0.Add(time.Second)) })
	if got, w := c.NextArmWhere(t, own), (clock.Arm{At: t0.Add(time.Second), D: time.Second}); got != w {
		t.Fatalf("NextArmWhere(own) = %+v, want %+v", got, w)
	}
	tm.Reset(time.Minute)
	if got, w := c.NextArm(t), (clock.Arm{At: t0.Add(time.Second), D: time.Second, Context: true}); got != w {
		t.Fatalf("NextArm after NextArmWhere = %+v, want the context's %+v", got, w)
	}
	if got, w := c.NextArm(t), (clock.Arm{At: t0.Add(time.Minute), D: time.Minute}); got != w {
		t.Fatalf("NextArm = %+v, want the reset %+v", got, w)
	}

	// WaitArmedWhere looks at a timer's last arming only, and waits for an
	// arming by another goroutine.
	var r recorder
	clock.SetWaitTimeout(c, 20*time.Millisecond)
	c.WaitArmedWhere(&r, func(a clock.Arm) bool { return own(a) && a.D == time.Second })
	if len(r.failed) != 1 || !strings.Contains(r.failed[0], "no timer armed as wanted") {
		t.Fatalf("WaitArmedWhere for a replaced arming: failures %q", r.failed)
	}
	clock.SetWaitTimeout(c, 0)
	go func() {
		_, cancel := clock.WithTimeout(context.Background(), c, time.Hour)
		cancel()
	}()
	if got := c.NextArmWhere(t, func(a clock.Arm) bool { return a.Context }); got.D != time.Hour || !got.Context {
		t.Fatalf("NextArmWhere(context) = %+v, want the hour's deadline", got)
	}
}

// recorder is a clock.TB that records failures instead of ending the test.
type recorder struct {
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func TestFakeWaitFailures(t *testing.T) {
	tests := []struct {
		name string
		wait func(c *clock.Fake, tb clock.TB)
		want string // in the failure message
	}{
		{"WaitArmed: nothing armed", func(c *clock.Fake, tb clock.TB) {
			c.WaitArmed(tb, t0.Add(time.Second))
		}, "armed: []"},
		{"WaitArmed: another deadline", func(c *clock.Fake, tb clock.TB) {
			c.NewTimer(2 * time.Second)
			c.WaitArmed(tb, t0.Add(time.Second))
		}, "no timer armed at 2026-01-02 03:04:06 +0000 UTC (armed: [2026-01-02 03:04:07 +0000 UTC])"},
		{"WaitArmed: the timer fired", func(c *clock.Fake, tb clock.TB) {
			c.NewTimer(time.Second)
			c.Advance(time.Second)
			c.WaitArmed(tb, t0.Add(time.Second))
		}, "no timer armed at"},
		{"WaitArmed: the timer was stopped", func(c *clock.Fake, tb clock.TB) {
			c.NewTimer(time.Second).Stop()
			c.WaitArmed(tb, t0.Add(time.Second))
		}, "no timer armed at"},
		{"NextArm: no arming", func(c *clock.Fake, tb clock.TB) {
			if a := c.NextArm(tb); a != (clock.Arm{}) {
				t.Errorf("failed NextArm returned %+v", a)
			}
		}, "no timer armed within"},
		{"NextArmWhere: no arming matches", func(c *clock.Fake, tb clock.TB) {
			c.NewTimer(time.Second)
			c.NextArmWhere(tb, func(a clock.Arm) bool { return a.Context })
		}, "no timer armed within"},
		{"NextArm: armings already taken", func(c *clock.Fake, tb clock.TB) {
			c.NewTimer(time.Second)
			c.NextArm(tb)
			c.NextArm(tb)
		}, "no timer armed within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clock.NewFake(t0)
			clock.SetWaitTimeout(c, 20*time.Millisecond)
			var r recorder
			tt.wait(c, &r)
			if len(r.failed) != 1 || !strings.Contains(r.failed[0], tt.want) {
				t.Fatalf("failures %q, want one containing %q", r.failed, tt.want)
			}
		})
	}
}

// TestFakeConcurrent runs timers in many goroutines against a goroutine
// advancing the clock (run with -race): every armed timer fires once with a
// value not before its deadline and not after the time it is received at.
func TestFakeConcurrent(t *testing.T) {
	c := clock.NewFake(t0)
	const workers, rounds = 20, 50
	stop := make(chan struct{})
	advanced := make(chan struct{})
	go func() {
		defer close(advanced)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.Advance(time.Millisecond)
			c.Armed()
		}
	}()
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := time.Duration(w%5+1) * time.Millisecond
			tm := c.NewTimer(time.Hour)
			tm.Stop()
			for i := range rounds {
				if i%3 == 0 { // a stopped timer never fires
					tm.Reset(d)
					tm.Stop()
				}
				before := c.Now()
				tm.Reset(d)
				select {
				case v := <-tm.C():
					if after := c.Now(); v.Before(before.Add(d)) || v.After(after) {
						errs <- fmt.Errorf("worker %d: value %v not within [%v, %v]", w, v, before.Add(d), after)
						return
					}
				case <-time.After(10 * time.Second):
					errs <- fmt.Errorf("worker %d round %d: timer never fired", w, i)
					return
				}
				if tm.Stop() {
					errs <- fmt.Errorf("worker %d: Stop after receive returned true", w)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-advanced
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestFakeStopRacesAdvance: a timer whose value was never received is
// always stopped by Stop (true) and sends nothing afterwards, however Stop
// and the Advance that makes it due interleave. The same holds for Reset.
func TestFakeStopRacesAdvance(t *testing.T) {
	for _, op := range []string{"stop", "reset"} {
		t.Run(op, func(t *testing.T) {
			c := clock.NewFake(t0)
			for i := range 300 {
				tm := c.NewTimer(time.Millisecond)
				done := make(chan struct{})
				go func() { defer close(done); c.Advance(time.Millisecond) }()
				var got bool
				if op == "stop" {
					got = tm.Stop()
				} else {
					got = tm.Reset(time.Hour)
				}
				<-done
				if !got {
					t.Fatalf("round %d: %s returned false for a timer never received from", i, op)
				}
				if v, ok := received(tm.C()); ok {
					t.Fatalf("round %d: value %v received after %s", i, v, op)
				}
				tm.Stop()
			}
		})
	}
}

func ExampleFake() {
	c := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	late := c.NewTimer(2 * time.Second)
	early := c.NewTimer(time.Second)
	c.Advance(time.Second)
	fmt.Println("early:", (<-early.C()).Format(time.TimeOnly), "armed:", len(c.Armed()))
	c.Advance(time.Minute)
	fmt.Println("late:", (<-late.C()).Format(time.TimeOnly), "now:", c.Now().Format(time.TimeOnly))
	// Output:
	// early: 00:00:01 armed: 1
	// late: 00:00:02 now: 00:01:01
}
