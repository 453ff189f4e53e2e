package clock

import (
	"context"
	"sync"
	"time"
)

// WithTimeout is context.WithTimeout on clock c: the returned context is
// done d after the call by c's time (on a Fake, when a test advances it
// that far), and then its Err, and that of every context derived from it,
// is context.DeadlineExceeded. Its Deadline is c.Now() + d. Calling cancel
// releases the timer and the goroutine that waits for it, and returns once
// that goroutine has exited; call it as soon as the work is done, as with
// context.WithTimeout. cancel is safe to call more than once and from any
// goroutine. On a Fake, the timer's armings are marked Arm.Context.
func WithTimeout(parent context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	inner, cancelCause := context.WithCancelCause(parent)
	ctx := &timeoutCtx{Context: inner, deadline: c.Now().Add(d), done: make(chan struct{})}
	var t Timer
	if cc, ok := c.(contextClock); ok {
		t = cc.newContextTimer(d)
	} else {
		t = c.NewTimer(d)
	}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		expired := false
		select {
		case <-t.C():
			// A parent done before the timer fired keeps its error.
			expired = inner.Err() == nil
			cancelCause(context.DeadlineExceeded)
		case <-inner.Done():
		}
		ctx.finish(expired)
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			t.Stop()
			cancelCause(context.Canceled)
		})
		<-exited
	}
}

// contextClock is a Clock that arms the timers of WithTimeout's contexts
// apart from the others: a Fake, whose tests tell them by Arm.Context.
type contextClock interface {
	newContextTimer(d time.Duration) Timer
}

// timeoutCtx reports the clock's deadline and, once the timer fired,
// context.DeadlineExceeded as its error. Values and Cause come from the
// inner cancel context; Done is a channel of its own, closed once err is
// set. A context derived from a timeoutCtx therefore does not attach to the
// inner context, whose Err is context.Canceled whatever the cause, but
// takes its error from timeoutCtx.Err.
type timeoutCtx struct {
	context.Context
	deadline time.Time
	done     chan struct{}
	err      error // set before done is closed
}

// finish records the error once the inner context is done and closes done.
func (c *timeoutCtx) finish(expired bool) {
	c.err = c.Context.Err()
	if expired {
		c.err = context.DeadlineExceeded
	}
	close(c.done)
}

func (c *timeoutCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *timeoutCtx) Done() <-chan struct{} { return c.done }

func (c *timeoutCtx) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}
