package balancer

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestCloseSpreadOnClock: a stop with GracefulTimeout 10s and CloseSpread
// 5s leaves the sessions alone for 5 s, then closes them evenly over the
// last 5 s (10 sessions: one each half second), each in order (the client
// reads EOF, not a reset); a session that ends by itself meanwhile counts
// towards the pace, and Run returns when the grace period ends.
func TestCloseSpreadOnClock(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	clk := clock.NewFake(t0)
	cfg := baseConfig(backendsOf(srv))
	cfg.GracefulTimeout, cfg.CloseSpread = 10*time.Second, 5*time.Second
	r := startListener(t, cfg, 2, withClock(clk))
	var conns []net.Conn
	for range 10 {
		c := r.dial(t)
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	r.cancel()
	clk.WaitArmed(t, t0.Add(5*time.Second))
	clk.Advance(5 * time.Second)
	if a := r.active.Load(); a != 10 {
		t.Fatalf("%d sessions open when the spread begins, want all 10", a)
	}
	start := clk.Now()
	// tick advances the clock to start+at, a tick of 100 ms at a time,
	// waiting each time for the next to be armed (the closes of the one
	// before are done by then).
	at := time.Duration(0)
	tick := func(to time.Duration) {
		t.Helper()
		for at < to {
			at += spreadTick
			clk.WaitArmed(t, start.Add(at))
			clk.Advance(spreadTick)
		}
	}
	open := func(want int64, when string) {
		t.Helper()
		if a := r.active.Load(); a != want {
			t.Fatalf("%s: %d sessions open, want %d", when, a, want)
		}
	}
	tick(400 * time.Millisecond)
	open(10, "0.4 s into the spread")
	tick(500 * time.Millisecond)
	clk.WaitArmed(t, start.Add(600*time.Millisecond))
	open(9, "0.5 s into the spread")
	tick(time.Second)
	clk.WaitArmed(t, start.Add(1100*time.Millisecond))
	open(8, "1 s into the spread")

	// One client leaves by itself: the next close is due at 2 s, not 1.5.
	var mine net.Conn
	for _, c := range conns {
		if !isClosed(c) {
			mine = c
			break
		}
	}
	mine.Close()
	eventually(t, 5*time.Second, "the client's own close", func() bool { return r.active.Load() == 7 })
	tick(1900 * time.Millisecond)
	clk.WaitArmed(t, start.Add(2*time.Second))
	open(7, "1.9 s into the spread, one session ended by itself")
	tick(2 * time.Second)
	clk.WaitArmed(t, start.Add(2100*time.Millisecond))
	open(6, "2 s into the spread")

	// Closed in order: the broker's bytes, then EOF.
	closed := 0
	for _, c := range conns {
		if c == mine {
			continue
		}
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF):
			closed++
		case errors.As(err, &ne) && ne.Timeout():
		default:
			t.Errorf("a closed session's client read %v, want EOF (an orderly close)", err)
		}
	}
	if closed != 3 {
		t.Errorf("%d clients saw their session end, want the 3 closed by the spread", closed)
	}
	if runReturned(t, r, 0) {
		t.Fatal("Run returned within the spread")
	}
	tick(5 * time.Second)
	if !runReturned(t, r, 5*time.Second) {
		t.Fatal("Run did not return when the grace period ended")
	}
	open(0, "after the grace period")
}

// isClosed reports whether the peer has closed c (EOF or reset), without
// waiting.
func isClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}
