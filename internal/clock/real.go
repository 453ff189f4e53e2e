package clock

import "time"

// Real is the Clock of package time: Now is time.Now, and NewTimer and
// NewTimerAt wrap time.NewTimer. The zero value is ready to use and carries no state.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns a *time.Timer created by time.NewTimer(d) as a Timer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTimerAt returns NewTimer(time.Until(deadline)).
func (Real) NewTimerAt(deadline time.Time) Timer {
	return realTimer{time.NewTimer(time.Until(deadline))}
}

// realTimer adapts *time.Timer (whose C is a field) to Timer.
type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Stop() bool                 { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

// ResetAt is Reset(time.Until(deadline)); a deadline from time.Now (or
// Real.Now) counts on the monotonic clock.
func (t realTimer) ResetAt(deadline time.Time) bool { return t.t.Reset(time.Until(deadline)) }
