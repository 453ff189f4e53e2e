package balancer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAlive: a running listener's loops all answer Alive; with one loop
// blocked, Alive returns once its context is done with an error that
// names that loop and no other; once the loop runs again, Alive answers;
// a listener before Run and after it answers nil at once.
func TestAlive(t *testing.T) {
	cfg := baseConfig(backendsOf(newServer(t, "127.0.0.1", echo)))
	l, err := NewListener(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Alive(context.Background()); err != nil {
		t.Fatalf("Alive before Run: %v", err)
	}

	r := startListener(t, cfg, 3)
	alive := func(within time.Duration) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		start := time.Now()
		err := r.Alive(ctx)
		if took := time.Since(start); took > within+5*time.Second {
			t.Fatalf("Alive returned %v after its deadline (%v)", took-within, within)
		}
		return err
	}
	if err := alive(10 * time.Second); err != nil {
		t.Fatalf("Alive of a running listener: %v", err)
	}

	r.mu.Lock()
	lp := r.loops[1]
	r.mu.Unlock()
	blocked, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the listener's stop: cleanups run last first
	lp.post(func(*loop) { close(blocked); <-release })
	<-blocked
	err = alive(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "event loop 2 of 3 did not answer") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Alive with loop 2 blocked: %v, want loop 2 named", err)
	}
	unblock()
	if err := alive(10 * time.Second); err != nil {
		t.Fatalf("Alive once the loop runs again: %v", err)
	}

	r.stop(t)
	if err := alive(time.Millisecond); err != nil {
		t.Fatalf("Alive after Run returned: %v", err)
	}
}
