package ctxclose

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// slowCloser's Close says it has begun and returns when the test lets it.
type slowCloser struct {
	begun, release chan struct{}
	calls          atomic.Int32
	err            error
}

func newSlowCloser() *slowCloser {
	return &slowCloser{begun: make(chan struct{}, 1), release: make(chan struct{})}
}

func (c *slowCloser) Close() error {
	c.calls.Add(1)
	c.begun <- struct{}{}
	<-c.release
	return c.err
}

// TestWaitForCloseUnderWay: once the context is done and Close has begun,
// wait returns only after Close has returned, with its error.
func TestWaitForCloseUnderWay(t *testing.T) {
	c := newSlowCloser()
	c.err = errors.New("closing: boom")
	ctx, cancel := context.WithCancel(context.Background())
	wait := OnDone(ctx, c)
	cancel()
	<-c.begun
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		t.Fatalf("wait returned (%v) while Close was under way", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(c.release)
	select {
	case err := <-done:
		if err != c.err {
			t.Fatalf("wait = %v, want Close's error %v", err, c.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return after Close")
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("Close called %d times, want 1", n)
	}
}

// TestWaitWithoutCancel: with the context not done, wait leaves c open
// and a later cancel does not close it.
func TestWaitWithoutCancel(t *testing.T) {
	c := newSlowCloser()
	close(c.release)
	ctx, cancel := context.WithCancel(context.Background())
	wait := OnDone(ctx, c)
	if err := wait(); err != nil {
		t.Fatalf("wait = %v", err)
	}
	cancel()
	select {
	case <-c.begun:
		t.Fatal("closed after wait had cancelled the close")
	case <-time.After(50 * time.Millisecond):
	}
}

// TestWaitClosesWhenDone: when the context is done, wait returns with c
// closed exactly once.
func TestWaitClosesWhenDone(t *testing.T) {
	c := newSlowCloser()
	close(c.release)
	ctx, cancel := context.WithCancel(context.Background())
	wait := OnDone(ctx, c)
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("wait = %v", err)
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("Close called %d times, want 1", n)
	}
}
