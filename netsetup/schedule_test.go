package netsetup

import (
	"context"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestGARPSchedule(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name  string
		cfg   GARPConfig
		sends []time.Duration // times (since t0) at which the caller sends
		want  []time.Duration // expected next() after each send; -1 = none
	}{
		{
			name:  "defaults: burst then refresh",
			cfg:   GARPConfig{}.withDefaults(),
			sends: []time.Duration{0, 1100 * time.Millisecond, 2200 * time.Millisecond, 3300 * time.Millisecond, 4400 * time.Millisecond, 64400 * time.Millisecond},
			want:  []time.Duration{1100 * time.Millisecond, 2200 * time.Millisecond, 3300 * time.Millisecond, 4400 * time.Millisecond, 64400 * time.Millisecond, 124400 * time.Millisecond},
		},
		{
			name:  "refresh off",
			cfg:   GARPConfig{Count: 2, Interval: s, Refresh: -1},
			sends: []time.Duration{0, s},
			want:  []time.Duration{s, -1},
		},
		{
			name:  "single announcement then refresh",
			cfg:   GARPConfig{Count: 1, Interval: s, Refresh: 10 * s},
			sends: []time.Duration{0, 10 * s},
			want:  []time.Duration{10 * s, 20 * s},
		},
		{
			name: "late send: spacing counts from the actual send",
			cfg:  GARPConfig{Count: 3, Interval: s, Refresh: -1},
			// The second announcement went out 5 s late; the third is still
			// a full interval after it, not immediately.
			sends: []time.Duration{0, 6 * s, 7 * s},
			want:  []time.Duration{s, 7 * s, -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := garpSchedule{cfg: tt.cfg}
			if at, ok := sc.next(); !ok || !at.IsZero() {
				t.Fatalf("fresh next() = %v, %v; want zero time (now), true", at, ok)
			}
			for i, d := range tt.sends {
				sc.sent(t0.Add(d))
				at, ok := sc.next()
				if tt.want[i] < 0 {
					if ok {
						t.Fatalf("after send %d: next() = %v, want none", i, at.Sub(t0))
					}
					continue
				}
				if !ok || !at.Equal(t0.Add(tt.want[i])) {
					t.Fatalf("after send %d: next() = %v, %v; want %v", i, at.Sub(t0), ok, tt.want[i])
				}
			}
		})
	}
}

// manualClock is a clock whose time only moves when the test says so.
// Every timer created is announced on created, so a test can wait for the
// announcer to arm its timer before advancing.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*manualTimer
	created chan time.Duration
}

type manualTimer struct {
	c       chan time.Time
	at      time.Time
	stopped bool
	fired   bool
}

func newManualClock() *manualClock {
	return &manualClock{now: t0, created: make(chan time.Duration, 100)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) NewTimer(d time.Duration) timer {
	c.mu.Lock()
	t := &manualTimer{c: make(chan time.Time, 1), at: c.now.Add(d)}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	c.created <- d
	return manualTimerHandle{c, t}
}

type manualTimerHandle struct {
	c *manualClock
	t *manualTimer
}

func (h manualTimerHandle) C() <-chan time.Time { return h.t.c }
func (h manualTimerHandle) Stop() bool {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	was := !h.t.stopped && !h.t.fired
	h.t.stopped = true
	return was
}

// advance moves the time forward and fires the due timers.
func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if !t.stopped && !t.fired && !t.at.After(c.now) {
			t.fired = true
			t.c <- c.now
		}
	}
}

func TestAnnouncerSchedule(t *testing.T) {
	clk := newManualClock()
	sent := make(chan time.Time, 100)
	a := newAnnouncer(clk, GARPConfig{Count: 3, Interval: time.Second, Refresh: 10 * time.Second}, func(now time.Time) { sent <- now })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx) }()

	expectSent := func(want time.Time) {
		t.Helper()
		select {
		case got := <-sent:
			if !got.Equal(want) {
				t.Fatalf("announcement at %v, want %v", got.Sub(t0), want.Sub(t0))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no announcement, want one at %v", want.Sub(t0))
		}
	}
	expectNone := func() {
		t.Helper()
		select {
		case got := <-sent:
			t.Fatalf("unexpected announcement at %v", got.Sub(t0))
		default:
		}
	}
	expectTimer := func(want time.Duration) {
		t.Helper()
		for {
			select {
			case d := <-clk.created:
				if d == want {
					return
				}
				// A timer re-armed by a wake-up with nothing new; keep waiting.
			case <-time.After(5 * time.Second):
				t.Fatalf("announcer armed no timer of %v", want)
			}
		}
	}

	// Idle: no timer, no announcement.
	expectNone()

	// start sends the first one synchronously.
	a.start()
	expectSent(t0)
	expectTimer(time.Second)
	clk.advance(999 * time.Millisecond)
	expectNone()
	clk.advance(time.Millisecond)
	expectSent(t0.Add(time.Second))
	expectTimer(time.Second)
	clk.advance(time.Second)
	expectSent(t0.Add(2 * time.Second))
	// Burst over: refresh after 10 s.
	expectTimer(10 * time.Second)
	clk.advance(10 * time.Second)
	expectSent(t0.Add(12 * time.Second))
	expectTimer(10 * time.Second)

	// stop: the pending refresh never fires.
	a.stop()
	clk.advance(time.Minute)
	// Restart: a new burst from now.
	a.start()
	expectSent(t0.Add(72 * time.Second))
	expectTimer(time.Second)
	expectNone()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
