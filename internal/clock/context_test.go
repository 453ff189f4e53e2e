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
