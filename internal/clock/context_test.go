package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// done reports whether ctx is done, without blocking.
func done(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

func TestWithTimeoutFake(t *testing.T) {
	c := clock.NewFake(t0)
	ctx, cancel := clock.WithTimeout(context.Background(), c, time.Second)
	defer cancel()
	if dl, ok := ctx.Deadline(); !ok || !dl.Equal(t0.Add(time.Second)) {
		t.Fatalf("Deadline = %v, %v; want %v", dl, ok, t0.Add(time.Second))
	}
	c.WaitArmed(t, t0.Add(time.Second))
	c.Advance(time.Second - 1)
	if done(ctx) || ctx.Err() != nil {
		t.Fatalf("done before the deadline: %v", ctx.Err())
	}
	c.Advance(1)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not done at the deadline")
	}
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err = %v, want DeadlineExceeded", err)
	}
	if cause := context.Cause(ctx); cause != context.DeadlineExceeded {
		t.Fatalf("Cause = %v", cause)
	}
}

func TestWithTimeoutCancel(t *testing.T) {
	c := clock.NewFake(t0)
	ctx, cancel := clock.WithTimeout(context.Background(), c, time.Second)
	c.WaitArmed(t, t0.Add(time.Second))
	cancel()
	if !done(ctx) || ctx.Err() != context.Canceled {
		t.Fatalf("after cancel: done %v, Err %v; want Canceled", done(ctx), ctx.Err())
	}
	if armed := c.Armed(); len(armed) != 0 {
		t.Fatalf("timer still armed after cancel: %v", armed)
	}
	cancel() // twice is fine
	c.Advance(time.Hour)
	if ctx.Err() != context.Canceled {
		t.Fatalf("Err changed to %v after the deadline passed", ctx.Err())
	}
}

func TestWithTimeoutParent(t *testing.T) {
	c := clock.NewFake(t0)
	parent, cancelParent := context.WithCancel(context.Background())
	ctx, cancel := clock.WithTimeout(parent, c, time.Second)
	defer cancel()
	cancelParent()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not done after the parent")
	}
	if ctx.Err() != context.Canceled {
		t.Fatalf("Err = %v, want Canceled", ctx.Err())
	}
}

func TestWithTimeoutReal(t *testing.T) {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real{}, 0)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a zero timeout on the real clock is not done")
	}
	if ctx.Err() != context.DeadlineExceeded {
		t.Fatalf("Err = %v", ctx.Err())
	}
}

// TestWithTimeoutChildren checks that contexts derived from the timeout
// context see the same error as the standard library's: DeadlineExceeded
// once the clock passes the deadline, Canceled after an explicit cancel.
func TestWithTimeoutChildren(t *testing.T) {
	derive := map[string]func(context.Context) (context.Context, context.CancelFunc){
		"WithCancel": context.WithCancel,
		"WithCancelCause": func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancelCause(ctx)
			return ctx, func() { cancel(nil) }
		},
		"WithTimeout": func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Hour)
		},
		"WithValue then WithCancel": func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithCancel(context.WithValue(ctx, t, 1))
		},
	}
	for name, derive := range derive {
		t.Run(name+" expired", func(t *testing.T) {
			c := clock.NewFake(t0)
			ctx, cancel := clock.WithTimeout(context.Background(), c, time.Second)
			defer cancel()
			child, cancelChild := derive(ctx)
			defer cancelChild()
			c.WaitArmed(t, t0.Add(time.Second))
			c.Advance(time.Second)
			select {
			case <-child.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("child not done at the deadline")
			}
			if err := child.Err(); err != context.DeadlineExceeded {
				t.Fatalf("child Err = %v, want DeadlineExceeded", err)
			}
			if cause := context.Cause(child); cause != context.DeadlineExceeded {
				t.Fatalf("child Cause = %v, want DeadlineExceeded", cause)
			}
		})
		t.Run(name+" canceled", func(t *testing.T) {
			c := clock.NewFake(t0)
			ctx, cancel := clock.WithTimeout(context.Background(), c, time.Second)
			child, cancelChild := derive(ctx)
			defer cancelChild()
			cancel()
			select {
			case <-child.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("child not done after cancel")
			}
			c.Advance(time.Hour)
			if err := child.Err(); err != context.Canceled {
				t.Fatalf("child Err = %v, want Canceled", err)
			}
		})
	}
}

// TestWithTimeoutParentFirst checks that a parent done before the deadline
// keeps its own error even when the clock has passed the deadline since.
func TestWithTimeoutParentFirst(t *testing.T) {
	c := clock.NewFake(t0)
	parent, cancelParent := context.WithCancel(context.Background())
	ctx, cancel := clock.WithTimeout(parent, c, time.Second)
	defer cancel()
	c.WaitArmed(t, t0.Add(time.Second))
	cancelParent()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not done after the parent")
	}
	c.Advance(time.Second)
	if err := ctx.Err(); err != context.Canceled {
		t.Fatalf("Err = %v, want Canceled", err)
	}
}
