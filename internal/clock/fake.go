package clock

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultWaitTimeout bounds, in real time, how long WaitArmed and NextArm
// wait for the code under test before they fail the test.
const DefaultWaitTimeout = 5 * time.Second

// TB is the part of testing.TB the waiting helpers of Fake use to fail a
// test; *testing.T and *testing.B satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Arm is one arming of a timer of a Fake, by NewTimer, NewTimerAt, Reset
// or ResetAt.
type Arm struct {
	// At is the deadline: the Fake's time when armed plus D.
	At time.Time
	// D is the duration passed to NewTimer or Reset, or for NewTimerAt
	// and ResetAt the time left until the deadline when armed (it may be
	// <= 0).
	D time.Duration
	// Context marks the timer of a context's deadline, armed by
	// WithTimeout, so that a test can tell the timers of the code under
	// test from the deadlines of the work that code waits for.
	Context bool
}

// Fake is a Clock whose time moves only by Advance and Set, for tests.
//
// A timer of a Fake fires when the Fake's time reaches its deadline: in
// its arming (NewTimer, NewTimerAt, Reset or ResetAt) if d <= 0 (a
// deadline not after the Fake's time), otherwise in the Advance or Set
// that moves the time to or past it. The timers that one Advance or Set makes due fire in deadline order
// (ties in the order they were armed), and each sends its deadline (or,
// for d <= 0, the time it was armed at) on its channel. Timer channels
// follow Go 1.23 semantics (see Timer); unlike a *time.Timer's, a Fake
// timer's channel has capacity 1.
//
// Tests synchronise with the code under test without sleeping: WaitArmed
// waits until a timer is armed for a given deadline, NextArm returns the
// armings in order, and Changed signals any change of the time or of a
// timer. WaitArmedWhere and NextArmWhere do the same for the armings a
// test picks, for instance those of the code's own timers and not of the
// context deadlines (Arm.Context) of the work it runs.
//
// All methods are safe for concurrent use. The zero value is a Fake at the
// zero time, ready to use; NewFake starts one elsewhere. A Fake owns no
// goroutine. WaitArmed and NextArm must be called from the goroutine
// running the test, since they may call t.Fatalf.
type Fake struct {
	// waitTimeout replaces DefaultWaitTimeout when > 0 (tests of this
	// package set it to test failures quickly).
	waitTimeout time.Duration

	mu      sync.Mutex    // guards the fields below and every fakeTimer's fields
	now     time.Time     // the Fake's time
	seq     uint64        // count of armings, orders timers with equal deadlines
	pending []*fakeTimer  // timers armed and not yet fired, in no order
	arms    []Arm         // armings not yet returned by NextArm, oldest first
	late    time.Duration // moves the time just before the next arming; 0: none (AdvanceAtNextArm)
	changed chan struct{} // closed and replaced on every change; nil until needed
}

// NewFake returns a Fake whose time is now.
func NewFake(now time.Time) *Fake { return &Fake{now: now} }

// Now returns the Fake's time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires once the Fake's time reaches
// Now()+d; with d <= 0 it has fired (its value is waiting on C) when
// NewTimer returns.
func (c *Fake) NewTimer(d time.Duration) Timer { return c.newTimer(d, false) }

// NewTimerAt returns a timer that fires once the Fake's time reaches
// deadline, worked out under the Fake's lock as ResetAt does; a deadline
// not after the Fake's time has fired when NewTimerAt returns.
func (c *Fake) NewTimerAt(deadline time.Time) Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.rearm(untilDeadline(deadline))
	return t
}

// newContextTimer is NewTimer for the deadline of a context of
// WithTimeout: its armings are marked Arm.Context.
func (c *Fake) newContextTimer(d time.Duration) Timer { return c.newTimer(d, true) }

func (c *Fake) newTimer(d time.Duration, context bool) Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), context: context}
	t.rearm(forDuration(d))
	return t
}

// forDuration and untilDeadline give an arming's D at the Fake's time
// now: d itself, or the time left until deadline.
func forDuration(d time.Duration) func(now time.Time) time.Duration {
	return func(time.Time) time.Duration { return d }
}

func untilDeadline(deadline time.Time) func(now time.Time) time.Duration {
	return func(now time.Time) time.Duration { return deadline.Sub(now) }
}

// AdvanceAtNextArm makes the Fake's time move forward by d at the next
// arming of one of its timers (by NewTimer, NewTimerAt, Reset or
// ResetAt), just before the timer is armed, as Advance would: as if the
// code under test were held up between working out a deadline and arming
// its timer. A duration (NewTimer, Reset) then counts from the time moved;
// a deadline (NewTimerAt, ResetAt) stays. A d <= 0 cancels a move not yet made.
func (c *Fake) AdvanceAtNextArm(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.late = max(d, 0)
}

// lateLocked makes the move AdvanceAtNextArm asked for, if any.
func (c *Fake) lateLocked() {
	if d := c.late; d > 0 {
		c.late = 0
		c.setLocked(c.now.Add(d))
	}
}

// Advance moves the Fake's time forward by d and fires the timers that
// become due, in deadline order, before it returns. A negative d moves the
// time back, like Set.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// Set sets the Fake's time to t and fires the timers that become due, in
// deadline order, before it returns. Setting an earlier time fires nothing:
// timers already fired stay fired and pending ones keep their deadlines.
func (c *Fake) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(t)
}

func (c *Fake) setLocked(t time.Time) {
	c.now = t
	for _, tm := range c.dueLocked() {
		tm.fireLocked(tm.arm.At)
	}
	c.notifyLocked()
}

// dueLocked removes the pending timers whose deadline is not after now
// from pending and returns them in the order they fire.
func (c *Fake) dueLocked() []*fakeTimer {
	var due []*fakeTimer
	keep := c.pending[:0]
	for _, tm := range c.pending {
		if tm.arm.At.After(c.now) {
			keep = append(keep, tm)
		} else {
			due = append(due, tm)
		}
	}
	clear(c.pending[len(keep):])
	c.pending = keep
	slices.SortFunc(due, func(a, b *fakeTimer) int {
		return cmp.Or(a.arm.At.Compare(b.arm.At), cmp.Compare(a.seq, b.seq))
	})
	return due
}

// Armed returns the deadlines of the timers that are armed and have not
// fired, earliest first.
func (c *Fake) Armed() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armedLocked()
}

func (c *Fake) armedLocked() []time.Time {
	at := make([]time.Time, 0, len(c.pending))
	for _, tm := range c.pending {
		at = append(at, tm.arm.At)
	}
	slices.SortFunc(at, time.Time.Compare)
	return at
}

// Changed returns a channel that is closed at the next change of the
// Fake's time or of one of its timers (armed, stopped or fired). Take the
// channel before checking the condition waited for, then wait on it.
func (c *Fake) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changedLocked()
}

func (c *Fake) changedLocked() <-chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

func (c *Fake) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// WaitArmed waits until a timer is armed (and has not fired) with deadline
// at, that is until the code under test went back to waiting for at. It
// fails the test if none is within the wait timeout (DefaultWaitTimeout of
// real time).
func (c *Fake) WaitArmed(t TB, at time.Time) {
	t.Helper()
	c.waitArmed(t, func(a Arm) bool { return a.At.Equal(at) }, fmt.Sprintf("at %v", at))
}

// WaitArmedWhere waits until a timer is armed (and has not fired) whose
// arming, its last, match accepts. It fails the test if none is within
// the wait timeout (DefaultWaitTimeout of real time).
func (c *Fake) WaitArmedWhere(t TB, match func(Arm) bool) {
	t.Helper()
	c.waitArmed(t, match, "as wanted")
}

func (c *Fake) waitArmed(t TB, match func(Arm) bool, what string) {
	t.Helper()
	deadline := time.NewTimer(c.timeout())
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for _, tm := range c.pending {
			if match(tm.arm) {
				c.mu.Unlock()
				return
			}
		}
		armed := c.armedLocked()
		ch := c.changedLocked()
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no timer armed %s (armed: %v)", what, armed)
			return
		}
	}
}

// DropArms forgets the armings NextArm and NextArmWhere have not returned
// yet: the next one they return is made after DropArms. A test that
// makes the code under test turn once (and arm its timer again) calls it
// first, then waits for the new arming with NextArmWhere before it moves
// the time, so that the time does not move while that code reads it.
func (c *Fake) DropArms() {
	c.mu.Lock()
	c.arms = nil
	c.mu.Unlock()
}

// NextArm returns the oldest arming (by NewTimer, NewTimerAt, Reset or
// ResetAt) that NextArm has not returned yet, waiting for one if there is
// none. It fails the test if none comes within the wait timeout
// (DefaultWaitTimeout of real time).
func (c *Fake) NextArm(t TB) Arm {
	t.Helper()
	return c.nextArm(t, func(Arm) bool { return true })
}

// NextArmWhere is NextArm for the armings match accepts: it returns the
// oldest of them not yet returned, waiting for one if there is none. The
// armings it passes over stay for later calls of NextArm and NextArmWhere.
func (c *Fake) NextArmWhere(t TB, match func(Arm) bool) Arm {
	t.Helper()
	return c.nextArm(t, match)
}

func (c *Fake) nextArm(t TB, match func(Arm) bool) Arm {
	t.Helper()
	deadline := time.NewTimer(c.timeout())
	defer deadline.Stop()
	for {
		c.mu.Lock()
		if i := slices.IndexFunc(c.arms, match); i >= 0 {
			a := c.arms[i]
			c.arms = slices.Delete(c.arms, i, i+1)
			c.mu.Unlock()
			return a
		}
		ch := c.changedLocked()
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no timer armed within %v", c.timeout())
			return Arm{}
		}
	}
}

func (c *Fake) timeout() time.Duration {
	if c.waitTimeout > 0 {
		return c.waitTimeout
	}
	return DefaultWaitTimeout
}

// fakeTimer is a Timer of a Fake. Its fields are guarded by c.mu.
type fakeTimer struct {
	c       *Fake
	ch      chan time.Time // capacity 1; holds the value of a fired timer until received
	arm     Arm            // the last arming; arm.At is the deadline while armed
	seq     uint64         // arming order
	active  bool           // armed and not fired; then t is in c.pending
	context bool           // a context's deadline (WithTimeout): armings are marked so
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.disarmLocked()
	t.c.notifyLocked()
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool { return t.rearm(forDuration(d)) }

// ResetAt re-arms t for deadline under the Fake's lock, so that the time
// cannot move between reading it and arming: the arming's D is the time
// left then (<= 0: t fires at once, sending the Fake's time).
func (t *fakeTimer) ResetAt(deadline time.Time) bool { return t.rearm(untilDeadline(deadline)) }

// rearm disarms t (a new one is not armed yet) and arms it for the D
// that left gives at the Fake's time once a move AdvanceAtNextArm asked
// for is made, all under the Fake's lock; it reports whether t was armed
// or its value was waiting.
func (t *fakeTimer) rearm(left func(now time.Time) time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.disarmLocked()
	t.c.lateLocked()
	t.armLocked(left(t.c.now))
	return was
}

// disarmLocked stops t and discards a value not yet received; it reports
// whether t was armed or its value was waiting (Go 1.23 Stop semantics).
func (t *fakeTimer) disarmLocked() bool {
	was := t.active
	if t.active {
		t.active = false
		i := slices.Index(t.c.pending, t)
		t.c.pending = slices.Delete(t.c.pending, i, i+1)
	}
	select {
	case <-t.ch:
		was = true
	default:
	}
	return was
}

// armLocked arms the stopped t to fire after d, at once if d <= 0.
func (t *fakeTimer) armLocked(d time.Duration) {
	c := t.c
	c.seq++
	t.arm, t.seq = Arm{At: c.now.Add(d), D: d, Context: t.context}, c.seq
	c.arms = append(c.arms, t.arm)
	if d <= 0 {
		t.fireLocked(c.now)
	} else {
		t.active = true
		c.pending = append(c.pending, t)
	}
	c.notifyLocked()
}

// fireLocked sends v on the channel of t, which is not in c.pending. The
// channel is empty: arming drains it, and t fires once per arming.
func (t *fakeTimer) fireLocked(v time.Time) {
	t.active = false
	select {
	case t.ch <- v:
	default:
	}
}
