package vrrp

import (
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestLateAdvertsTolerated: a backup with LateAdvertsTolerated n waits
// (3 + n) advert intervals plus Skew_Time for a silent master; with 0 it
// is the RFC's machine. A master whose advert comes 40 ms after the last
// one at 10 ms (one advert lost or very late) is replaced by an RFC backup
// and kept by one tolerating one late advert; a priority-0 advert is
// followed after Skew_Time either way.
func TestLateAdvertsTolerated(t *testing.T) {
	const iv = 10 * time.Millisecond
	skew := time.Duration(256-100) * iv / 256
	for _, c := range []struct {
		n          int
		wantMDI    time.Duration
		keepsAt40  bool // still BACKUP when the next advert comes 40 ms late
		takeOverAt time.Duration
	}{
		{0, 3*iv + skew, false, 3*iv + skew},
		{1, 4*iv + skew, true, 4*iv + skew},
		{2, 5*iv + skew, true, 5*iv + skew},
	} {
		cfg := testConfig(func(c *Config) { c.AdvertInterval = iv })
		cfg.LateAdvertsTolerated = c.n
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		clk := clock.NewFake(time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC))
		start := clk.Now()
		m := NewMachine(cfg, local)
		m.Step(clk.Now(), Startup{})
		m.Step(clk.Now(), advertFrom(higher, 150, iv))
		if got := m.MasterDownInterval(); got != c.wantMDI {
			t.Errorf("n=%d: Master_Down_Interval %v, want %v", c.n, got, c.wantMDI)
		}
		if d, ok := m.NextDeadline(); !ok || d.Sub(start) != c.takeOverAt {
			t.Errorf("n=%d: master down timer at %v (%v), want %v", c.n, d.Sub(start), ok, c.takeOverAt)
		}
		// Silence until just before the timer: still BACKUP.
		clk.Advance(40*time.Millisecond - time.Nanosecond)
		m.Step(clk.Now(), Tick{})
		if got, want := m.State() == StateBackup, c.keepsAt40; got != want {
			t.Errorf("n=%d: 40 ms of silence: state %v", c.n, m.State())
		}
		if c.keepsAt40 {
			// The late advert comes: the backup stays.
			clk.Advance(time.Nanosecond)
			m.Step(clk.Now(), advertFrom(higher, 150, iv))
			if m.State() != StateBackup {
				t.Errorf("n=%d: the late advert came, state %v", c.n, m.State())
			}
			// Then silence for good: it takes over at the longer interval.
			at := clk.Now()
			clk.Advance(c.takeOverAt - time.Nanosecond)
			m.Step(clk.Now(), Tick{})
			if m.State() != StateBackup {
				t.Errorf("n=%d: state %v before %v of silence", c.n, m.State(), c.takeOverAt)
			}
			clk.Advance(time.Nanosecond)
			m.Step(clk.Now(), Tick{})
			if m.State() != StateMaster || clk.Now().Sub(at) != c.takeOverAt {
				t.Errorf("n=%d: state %v after %v of silence, want MASTER", c.n, m.State(), clk.Now().Sub(at))
			}
		}

		// A master that leaves (priority 0) is followed after Skew_Time.
		m2 := NewMachine(cfg, local)
		m2.Step(clk.Now(), Startup{})
		m2.Step(clk.Now(), advertFrom(higher, 150, iv))
		m2.Step(clk.Now(), advertFrom(higher, 0, iv))
		if d, ok := m2.NextDeadline(); !ok || d.Sub(clk.Now()) != skew {
			t.Errorf("n=%d: after priority 0 the timer is at %v, want Skew_Time %v", c.n, d.Sub(clk.Now()), skew)
		}
	}
	bad := testConfig()
	bad.LateAdvertsTolerated = MaxLateAdvertsTolerated + 1
	if err := bad.Validate(); err == nil {
		t.Errorf("LateAdvertsTolerated %d accepted", bad.LateAdvertsTolerated)
	}
}
