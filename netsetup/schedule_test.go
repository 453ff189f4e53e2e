package netsetup

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
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

// TestAnnouncerSchedule runs in a synctest bubble only so that it can wait
// for run to block (synctest.Wait); time comes from the fake clock.
func TestAnnouncerSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clock.NewFake(t0)
		sent := make(chan time.Time, 100)
		refreshes := make(chan bool, 100)
		a := newAnnouncer(clk, GARPConfig{Count: 3, Interval: time.Second, Refresh: 10 * time.Second}, func(now time.Time, probe bool) { sent <- now; refreshes <- probe })

		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel) // run ends also when the test fails
		done := make(chan error, 1)
		go func() { done <- a.run(ctx) }()
		// Let run park with no timer before start: otherwise run may read
		// start's state and then also take start's wake-up, arming the first
		// timer twice.
		synctest.Wait()

		expectSent := func(want time.Time) {
			t.Helper()
			select {
			case got := <-sent:
				if !got.Equal(want) {
					t.Fatalf("announcement at %v, want %v", got.Sub(t0), want.Sub(t0))
				}
				// The burst's first three, then refreshes, at each start.
				if r, w := <-refreshes, got.Sub(t0) >= 12*time.Second && got.Sub(t0) < time.Minute; r != w {
					t.Fatalf("announcement at %v: refresh %v, want %v", got.Sub(t0), r, w)
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
			// Timers re-armed by a wake-up with nothing new come first; skip
			// them. NextArm fails the test when the announcer arms no more.
			for clk.NextArm(t).D != want {
			}
		}

		// Idle: no timer, no announcement.
		expectNone()

		// start sends the first one synchronously.
		a.start()
		expectSent(t0)
		expectTimer(time.Second)
		clk.Advance(999 * time.Millisecond)
		expectNone()
		clk.Advance(time.Millisecond)
		expectSent(t0.Add(time.Second))
		expectTimer(time.Second)
		clk.Advance(time.Second)
		expectSent(t0.Add(2 * time.Second))
		// Burst over: refresh after 10 s.
		expectTimer(10 * time.Second)
		clk.Advance(10 * time.Second)
		expectSent(t0.Add(12 * time.Second))
		expectTimer(10 * time.Second)

		// stop: the pending refresh never fires.
		a.stop()
		clk.Advance(time.Minute)
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
	})
}

// An announcer silenced (StopAnnouncing) does not start again, not even
// from an Acquire that was under way, until it is resumed; resume starts
// nothing by itself.
func TestAnnouncerSilence(t *testing.T) {
	clk := clock.NewFake(t0)
	sent := make(chan time.Time, 100)
	a := newAnnouncer(clk, GARPConfig{Count: 3, Interval: time.Second, Refresh: 10 * time.Second}, func(now time.Time, _ bool) { sent <- now })
	a.silence()
	a.start()
	if len(sent) != 0 || a.active {
		t.Fatalf("a silenced announcer started: %d sent, active %v", len(sent), a.active)
	}
	a.resume()
	if len(sent) != 0 {
		t.Fatal("resume announced")
	}
	a.start()
	if len(sent) != 1 || !a.active {
		t.Fatalf("started after resume: %d sent, active %v; want 1, true", len(sent), a.active)
	}
}

// An announcer with NoProbe asks for no probe with its refreshes.
func TestAnnouncerNoProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clock.NewFake(t0)
		probes := make(chan bool, 100)
		a := newAnnouncer(clk, GARPConfig{Count: 1, Interval: time.Second, Refresh: time.Second, NoProbe: true},
			func(_ time.Time, probe bool) { probes <- probe })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- a.run(ctx) }()
		synctest.Wait()
		a.start()
		for range 3 {
			synctest.Wait()
			clk.Advance(time.Second)
		}
		synctest.Wait()
		cancel()
		<-done
		if n := len(probes); n != 4 {
			t.Fatalf("%d announcements, want 4", n)
		}
		for range 4 {
			if <-probes {
				t.Fatal("a probe with NoProbe")
			}
		}
	})
}
