package clock

import (
	"context"
	"sync"
	"time"
)

// WithTimeout is context.WithTimeout on clock c: the returned context is
// done d after the call by c's time (on a Fake, when a test advances it
// that far), and then its Err is context.DeadlineExceeded. Its Deadline is
// c.Now() + d. Calling cancel releases the timer and the goroutine that
// waits for it, and returns once that goroutine has exited; call it as
// soon as the work is done, as with context.WithTimeout. cancel is safe to
// call more than once and from any goroutine.
func WithTimeout(parent context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	inner, cancelCause := context.WithCancelCause(parent)
	ctx := &timeoutCtx{Context: inner, deadline: c.Now().Add(d)}
	t := c.NewTimer(d)
	stop := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-t.C():
			cancelCause(context.DeadlineExceeded)
		case <-stop:
		case <-inner.Done():
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			t.Stop()
			close(stop)
			cancelCause(context.Canceled)
		})
		<-exited
	}
}

// timeoutCtx reports the clock's deadline and, once the timer fired,
// context.DeadlineExceeded as its error.
type timeoutCtx struct {
	context.Context
	deadline time.Time
}

func (c *timeoutCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *timeoutCtx) Err() error {
	err := c.Context.Err()
	if err != nil && context.Cause(c.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}
