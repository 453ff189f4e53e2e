package balancer

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// withClock makes a listener use clk (a startListener option).
func withClock(clk clock.Clock) func(*Listener) {
	return func(l *Listener) { l.clock = clk }
}

// clockedSession starts a listener with loops event loops on a fake clock
// at t0, configured by baseConfig and then configure, in front of an echo
// server, and opens one session through it.
func clockedSession(t *testing.T, loops int, configure func(*Config)) (*runningListener, *clock.Fake, *net.TCPConn) {
	t.Helper()
	srv := newServer(t, "127.0.0.2", echo)
	clk := clock.NewFake(t0)
	cfg := baseConfig(backendsOf(srv))
	configure(&cfg)
	r := startListener(t, cfg, loops, withClock(clk))
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	return r, clk, c
}

// runReturned reports whether Run has returned (and marks it stopped).
func runReturned(t *testing.T, r *runningListener, within time.Duration) bool {
	t.Helper()
	select {
	case err := <-r.done:
		r.once.Do(func() {})
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		return true
	case <-time.After(within):
		return false
	}
}

// TestGracefulStopEndsWithLastSession checks that Run, once stopped, returns
// as soon as the last session ends, without any time passing on its clock.
func TestGracefulStopEndsWithLastSession(t *testing.T) {
	r, clk, c := clockedSession(t, 2, func(cfg *Config) { cfg.GracefulTimeout = time.Hour })
	r.cancel()
	clk.WaitArmed(t, t0.Add(time.Hour)) // the grace period started
	if runReturned(t, r, 0) {
		t.Fatal("Run returned while a session was open")
	}
	if _, err := roundTrip(c, []byte("during grace")); err != nil {
		t.Fatalf("session during graceful stop: %v", err)
	}
	c.CloseWrite()
	io.ReadAll(c)
	if !runReturned(t, r, 5*time.Second) {
		t.Fatal("Run did not return after the last session ended")
	}
	if got := clk.Now(); !got.Equal(t0) {
		t.Errorf("clock moved to %v", got)
	}
}

// TestGracefulTimeoutOnClock checks that the grace period is timed by the
// listener's clock: when it passes, the open session is closed and Run
// returns.
func TestGracefulTimeoutOnClock(t *testing.T) {
	r, clk, c := clockedSession(t, 2, func(cfg *Config) { cfg.GracefulTimeout = 10 * time.Second })
	r.cancel()
	clk.WaitArmed(t, t0.Add(10*time.Second))
	clk.Advance(10*time.Second - time.Nanosecond)
	if runReturned(t, r, 50*time.Millisecond) {
		t.Fatal("Run returned before the grace period passed")
	}
	clk.Advance(time.Nanosecond)
	if !runReturned(t, r, 5*time.Second) {
		t.Fatal("Run did not return when the grace period passed")
	}
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestPersistenceSweepOnClock checks that Run sweeps expired persistence
// entries every half persistence timeout of its clock.
func TestPersistenceSweepOnClock(t *testing.T) {
	r, clk, c := clockedSession(t, 1, func(cfg *Config) { cfg.PersistenceTimeout = 4 * time.Second })
	clk.WaitArmed(t, t0.Add(2*time.Second))
	c.Close()
	eventually(t, 5*time.Second, "session to end", func() bool { return r.Snapshot().Active == 0 })
	// The entry expires at t0+4s (released at t0).
	clk.Advance(2 * time.Second)
	clk.WaitArmed(t, t0.Add(4*time.Second))
	if n := r.stickyCount(); n != 1 {
		t.Fatalf("%d entries after the first sweep, want the live one", n)
	}
	clk.Advance(2 * time.Second)
	clk.WaitArmed(t, t0.Add(6*time.Second))
	if n := r.stickyCount(); n != 0 {
		t.Fatalf("%d entries after the entry expired and a sweep ran, want 0", n)
	}
}
