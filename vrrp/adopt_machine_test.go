package vrrp

import (
	"reflect"
	"testing"
	"time"
)

// An adopted BACKUP goes on from the master its predecessor heard: with
// that master's interval, not its own, so that a master advertising less
// often than this router does is not taken for silent right after an
// upgrade in place. Masters it would not accept start it as usual.
func TestAdoptedBackupCarriesOnItsMaster(t *testing.T) {
	const (
		sec    = time.Second
		ownMDI = 3609375 * time.Microsecond // priority 100, 1s
	)
	heard := t0.Add(-400 * time.Millisecond)
	master := func(prio uint8, iv time.Duration) *MasterInfo {
		return &MasterInfo{Addr: higher, Priority: prio, AdvertInterval: iv, Heard: heard}
	}
	tests := []struct {
		name    string
		cfg     Config
		release bool
		master  *MasterInfo
		carried bool // the master is carried on: Master() reports it
		mdi     time.Duration
		clamped bool
	}{
		{name: "higher priority master advertising every 2s", cfg: testConfig(), master: master(150, 2*sec),
			carried: true, mdi: 6*sec + 1218750*time.Microsecond},
		{name: "master's interval clamped to max_adopted_advert_interval", cfg: testConfig(), master: master(150, 10*sec),
			carried: true, mdi: 9*sec + 1828125*time.Microsecond, clamped: true},
		{name: "master of the same priority", cfg: testConfig(), master: master(100, 2*sec),
			carried: true, mdi: 6*sec + 1218750*time.Microsecond},
		{name: "lower priority master without preempt", cfg: testConfig(func(c *Config) { c.Preempt = false }),
			master: master(50, 2*sec), carried: true, mdi: 6*sec + 1218750*time.Microsecond},
		{name: "lower priority master is preempted", cfg: testConfig(), master: master(50, 2*sec), mdi: ownMDI},
		{name: "master leaving with priority 0", cfg: testConfig(), master: master(0, 2*sec), mdi: ownMDI},
		{name: "released before the start", cfg: testConfig(), release: true, master: master(150, 2*sec), mdi: 4 * sec}, // priority 0's skew
		{name: "no master heard", cfg: testConfig(), mdi: ownMDI},
		{name: "VRRPv2 master of the interval configured", cfg: testConfig(func(c *Config) { c.Version = 2 }),
			master: master(150, sec), carried: true, mdi: ownMDI},
		{name: "VRRPv2 master of another interval", cfg: testConfig(func(c *Config) { c.Version = 2 }),
			master: master(150, 2*sec), mdi: ownMDI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(tt.cfg, local)
			if tt.release {
				m.Step(t0, StepDown{})
			}
			out := m.Step(t0, Startup{Adopt: Adoption{State: StateBackup, Master: tt.master}})
			if m.State() != StateBackup {
				t.Fatalf("state %v, want BACKUP", m.State())
			}
			if got, ok := m.NextDeadline(); !ok || !got.Equal(t0.Add(tt.mdi)) {
				t.Errorf("next deadline %v after the start, want %v", got.Sub(t0), tt.mdi)
			}
			if got := m.Master(); tt.carried != (got != nil) || tt.carried && !reflect.DeepEqual(got, tt.master) {
				t.Errorf("Master() = %+v, carried %v", got, tt.carried)
			}
			var clamped bool
			for _, a := range out {
				_, ok := a.(IntervalClamped)
				clamped = clamped || ok
			}
			if clamped != tt.clamped {
				t.Errorf("actions %v: clamped %v, want %v", out, clamped, tt.clamped)
			}
			// The router's own master down interval passes quietly
			// when the carried master's is longer.
			if got := m.Step(t0.Add(ownMDI), Tick{}); tt.mdi > ownMDI && len(got) > 0 {
				t.Errorf("at its own master down interval: %v", got)
			}
		})
	}
}

// An adopted state keeps the predecessor's since and reason, since the
// router did not change state; the change is still reported, marked
// Adopted, with the start's reason.
func TestAdoptedStateKeepsSinceAndReason(t *testing.T) {
	since := t0.Add(-3 * time.Hour)
	for _, st := range []State{StateMaster, StateBackup} {
		t.Run(st.String(), func(t *testing.T) {
			m := NewMachine(testConfig(), local)
			out := m.Step(t0, Startup{Adopt: Adoption{State: st, Since: since, Reason: "the reason of then"}})
			if !m.Since().Equal(since) || m.Reason() != "the reason of then" {
				t.Errorf("since %v, reason %q", m.Since(), m.Reason())
			}
			c, ok := out[0].(StateChange)
			if !ok || !c.Adopted || c.To != st || c.Reason == "the reason of then" {
				t.Errorf("first action %v", out[0])
			}

			m = NewMachine(testConfig(), local)
			m.Step(t0, Startup{Adopt: Adoption{State: st}})
			if !m.Since().Equal(t0) || m.Reason() == "" {
				t.Errorf("without a since: since %v, reason %q", m.Since(), m.Reason())
			}
		})
	}

	// A state other than the one adopted (FAULT: the link is down) is
	// the start's own.
	m := NewMachine(testConfig(), local)
	m.Step(t0, LinkDown{})
	m.Step(t0, Startup{Adopt: Adoption{State: StateBackup, Since: since, Reason: "the reason of then"}})
	if m.State() != StateFault || !m.Since().Equal(t0) || m.Reason() == "the reason of then" {
		t.Errorf("%v since %v: %q", m.State(), m.Since(), m.Reason())
	}
}
