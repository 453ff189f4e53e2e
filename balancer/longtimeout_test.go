package balancer

import (
	"math"
	"testing"
	"time"
)

func TestLaterSaturates(t *testing.T) {
	for _, c := range []struct {
		t, d, want time.Duration
	}{
		{time.Second, time.Second, 2 * time.Second},
		{0, math.MaxInt64, math.MaxInt64},
		{time.Hour, math.MaxInt64 - time.Minute, math.MaxInt64},
		{time.Hour, math.MaxInt64 - time.Hour, math.MaxInt64},
	} {
		if got := later(c.t, c.d); got != c.want {
			t.Errorf("later(%v, %v) = %v, want %v", c.t, c.d, got, c.want)
		}
	}
}

// A timeout longer than epoll_wait can express waits the longest it can,
// not forever (a negative int).
func TestWaitMillisBounded(t *testing.T) {
	lp := &loop{epoch: time.Now()}
	for _, deadline := range []time.Duration{40 * 24 * time.Hour, math.MaxInt64} {
		s := &session{tidx: -1}
		lp.timers = timerHeap{}
		lp.timers.set(s, deadline)
		if got := lp.waitMillis(); got != math.MaxInt32 {
			t.Errorf("deadline %v away: waitMillis() = %d, want %d", deadline, got, math.MaxInt32)
		}
	}
}

// Sessions with the largest timeouts a configuration can hold stay open:
// their deadlines must not wrap into the past.
func TestLongestTimeoutsKeepSessions(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.IdleTimeout = math.MaxInt64
	cfg.ConnectTimeout = math.MaxInt64
	r := startListener(t, cfg, 1)
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := waitClosed(c, 300*time.Millisecond); err == nil {
		t.Fatal("a session with an idle timeout of 292 years was closed")
	}
	if _, err := roundTrip(c, []byte("y")); err != nil {
		t.Fatalf("session after the wait: %v", err)
	}
	if s := r.Snapshot(); s.IdleTimeouts != 0 {
		t.Errorf("IdleTimeouts = %d, want 0", s.IdleTimeouts)
	}
}
