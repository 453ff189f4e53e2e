package clock

import "time"

// Clock is a source of time. Implementations are safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once,
	// after d, like time.NewTimer. A d <= 0 fires at once.
	NewTimer(d time.Duration) Timer
	// NewTimerAt returns a timer that sends the time on its channel once,
	// when the clock's time reaches deadline (at once if it has already):
	// NewTimer for a deadline, kept as Timer.ResetAt keeps one.
	NewTimerAt(deadline time.Time) Timer
}

// Timer is the part of *time.Timer that rmqlb uses, with Go 1.23 semantics.
// A Timer is safe for concurrent use, but, as with *time.Timer, only one
// goroutine should receive from C while another may Stop or Reset it.
type Timer interface {
	// C returns the channel the timer sends on when it fires. It is the
	// same channel for the life of the timer.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It returns true if the timer
	// was stopped before its value was received (it was armed, or had
	// fired but C was not yet received from), false if it had already been
	// stopped or its value received. After Stop returns, no value is
	// received from C until the timer is Reset.
	Stop() bool
	// Reset re-arms the timer to fire after d (d <= 0: at once). It
	// returns what Stop would have returned; no value armed before the
	// call is received from C after Reset returns.
	Reset(d time.Duration) bool
	// ResetAt re-arms the timer to fire when the clock's time reaches
	// deadline (at once if it has already). Unlike Reset(deadline.Sub(now))
	// it does not depend on when the caller read now: a deadline worked out
	// from the time is kept even if the time moves on before the timer is
	// armed. It returns what Stop would have returned, and no value armed
	// before the call is received from C after it returns.
	ResetAt(deadline time.Time) bool
}
