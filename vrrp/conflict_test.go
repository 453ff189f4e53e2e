package vrrp

import (
	"context"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestMachineConflict: another host announcing a VIP of a MASTER that
// stays MASTER for Master_Down_Interval is a conflict, counted at the Tick
// that comes due then; not when a router advertised as MASTER just before
// or does meanwhile (VRRP settles it), nor when this one gives way or
// leaves MASTER, nor for an address no longer its own.
func TestMachineConflict(t *testing.T) {
	const mdi = 3609375 * time.Microsecond // prio 100, 1s
	sec := time.Second
	a := vip.Addr()
	master := []step{
		{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, state: StateBackup},
		{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{100}, Acquire{}}, state: StateMaster, deadline: mdi + sec},
	}
	with := func(more ...step) []step { return append(master[:len(master):len(master)], more...) }
	heard := mdi + sec/2
	runWatchingCases(t, []machineCase{
		{
			name: "counted a master down interval later",
			cfg:  testConfig(),
			steps: with(
				step{at: heard, ev: PeerAnnounced{Addr: a}, state: StateMaster, deadline: mdi + sec},
				// Heard again: the first time counts.
				step{at: heard + sec/4, ev: PeerAnnounced{Addr: a}, state: StateMaster, deadline: mdi + sec},
				step{at: mdi + sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster, deadline: mdi + 2*sec},
				step{at: mdi + 2*sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster, deadline: mdi + 3*sec},
				step{at: mdi + 3*sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster, deadline: mdi + 4*sec},
				// Due at heard+mdi, before the next advert: the machine
				// asks to be stepped then.
				step{at: mdi + 4*sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster, deadline: heard + mdi},
				step{at: heard + mdi, ev: Tick{}, want: []Action{ConflictHeard{Info: VIPConflict{Addr: a, At: t0.Add(heard), Count: 1}}}, state: StateMaster, deadline: mdi + 5*sec},
				// Again later: counted again.
				step{at: mdi + 5*sec, ev: PeerAnnounced{Addr: a}, state: StateMaster, deadline: mdi + 5*sec},
				step{at: mdi + 5*sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster, deadline: mdi + 6*sec},
				step{at: 2*mdi + 5*sec, ev: Tick{}, want: []Action{ConflictHeard{Info: VIPConflict{Addr: a, At: t0.Add(mdi + 5*sec), Count: 2}}, PeriodicAdvert{100}}, state: StateMaster},
			),
		},
		{
			name: "a lower-priority master advertises after its announcement",
			cfg:  testConfig(),
			steps: with(
				step{at: heard, ev: PeerAnnounced{Addr: a}, state: StateMaster, deadline: mdi + sec},
				step{at: heard + 1, ev: advertFrom(lower, 50, sec), state: StateMaster, deadline: mdi + sec},
				step{at: heard + mdi, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster},
			),
		},
		{
			name: "a lower-priority master advertised just before its announcement",
			cfg:  testConfig(),
			steps: with(
				step{at: heard, ev: advertFrom(lower, 50, sec), state: StateMaster, deadline: mdi + sec},
				step{at: heard + 1, ev: PeerAnnounced{Addr: a}, state: StateMaster, deadline: mdi + sec},
				step{at: heard + 1 + mdi, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster},
			),
		},
		{
			name: "a router that advertised long before is no excuse",
			cfg:  testConfig(),
			steps: with(
				step{at: heard, ev: advertFrom(lower, 50, sec), state: StateMaster, deadline: mdi + sec},
				step{at: heard + mdi, ev: PeerAnnounced{Addr: a}, state: StateMaster, deadline: mdi + sec},
				step{at: heard + 2*mdi, ev: Tick{}, want: []Action{ConflictHeard{Info: VIPConflict{Addr: a, At: t0.Add(heard + mdi), Count: 1}}, PeriodicAdvert{100}}, state: StateMaster},
			),
		},
		{
			name: "gives way to a higher-priority master",
			cfg:  testConfig(),
			steps: with(
				step{at: heard, ev: PeerAnnounced{Addr: a}, state: StateMaster, deadline: mdi + sec},
				step{at: heard + 1, ev: advertFrom(higher, 200, sec), want: []Action{change(StateMaster, StateBackup, "higher priority master"), StopAnnouncing{}}, state: StateBackup},
				step{at: heard + mdi, ev: Tick{}, state: StateBackup},
			),
		},
		{
			name: "leaves MASTER",
			cfg:  testConfig(),
			steps: with(
				step{at: heard, ev: PeerAnnounced{Addr: a}, state: StateMaster, deadline: mdi + sec},
				step{at: heard + 1, ev: LinkDown{}, want: []Action{change(StateMaster, StateFault, ""), Release{}}, state: StateFault},
				step{at: heard + 2, ev: LinkUp{}, want: []Action{change(StateFault, StateBackup, "")}, state: StateBackup},
				step{at: heard + 2 + mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{100}, Acquire{}}, state: StateMaster, deadline: heard + 2 + mdi + sec},
			),
		},
		{
			name: "as BACKUP",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, state: StateBackup},
				{at: sec, ev: PeerAnnounced{Addr: a}, state: StateBackup, deadline: mdi},
			},
		},
	})
}

// Another host announcing the VIP of a MASTER that stays MASTER: counted
// Master_Down_Interval later, in the snapshot, the log and the metric.
func TestInstanceConflict(t *testing.T) {
	tr := newFakeTransport(local)
	h, owner := startAnnouncingMaster(t, tr)
	const mdi = 3609375 * time.Microsecond
	owner.announce(t, vip.Addr())
	// Stepped before the clock moves: the loop answers once it has.
	if err := h.inst.Alive(context.Background()); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 3; k++ {
		h.clock.WaitArmed(t, t0.Add(mdi+time.Duration(k)*time.Second))
		h.clock.Advance(time.Second)
		tr.nextSent(t)
	}
	if s := h.inst.Snapshot(); s.Conflict != nil {
		t.Fatalf("a conflict before Master_Down_Interval passed: %+v", s.Conflict)
	}
	// Due at 2 x mdi, before the next advert.
	h.clock.WaitArmed(t, t0.Add(2*mdi))
	h.clock.Set(t0.Add(2 * mdi))
	h.waitSnapshot(t, "the conflict", func(s Snapshot) bool { return s.Conflict != nil })
	if c := h.inst.Snapshot().Conflict; c.Addr != vip.Addr() || !c.At.Equal(t0.Add(mdi)) || c.Count != 1 {
		t.Errorf("conflict %+v", c)
	}
	// The snapshot has the conflict once the machine stepped; the loop
	// logs and counts it as it performs the step's actions, just after.
	logged := func() int { return h.logs.FilterMessageSnippet("another host announced a VIP of this MASTER").Len() }
	counted := func() float64 {
		return metricstest.Value(t, metricstest.Gather(t, h.reg), "rmqlb_vrrp_vip_conflicts_total", nil)
	}
	for end := time.Now().Add(5 * time.Second); (logged() == 0 || counted() == 0) && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	if n := logged(); n != 1 {
		t.Errorf("%d log lines of the conflict", n)
	}
	if v := counted(); v != 1 {
		t.Errorf("rmqlb_vrrp_vip_conflicts_total %v", v)
	}
	h.wantState(t, StateMaster)
	owner.noCall(t)
}

// A router that preempts the master announces the VIPs while the old
// master, which advertised until it heard the new one, may still hold and
// announce them (it lingers until the new master announced them): no
// conflict, though the old master's adverts reached the new one while it
// was BACKUP.
func TestMachineConflictAfterPreempting(t *testing.T) {
	const mdi = 3609375 * time.Microsecond // prio 100, 1s
	sec := time.Second
	runWatchingCases(t, []machineCase{{
		name: "the old master's announcement after the preemption",
		cfg:  testConfig(),
		steps: []step{
			{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, state: StateBackup},
			// The old master, of lower priority, advertises every second.
			{at: sec / 2, ev: advertFrom(lower, 50, sec), state: StateBackup},
			{at: sec/2 + sec, ev: advertFrom(lower, 50, sec), state: StateBackup},
			{at: sec/2 + 2*sec, ev: advertFrom(lower, 50, sec), state: StateBackup},
			{at: sec/2 + 3*sec, ev: advertFrom(lower, 50, sec), state: StateBackup},
			// Preempts at the Master_Down_Timer of its start.
			{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{100}, Acquire{}}, state: StateMaster},
			{at: mdi + 1, ev: PeerAnnounced{Addr: vip.Addr()}, state: StateMaster},
			{at: mdi + sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster},
			{at: mdi + 2*sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster},
			{at: mdi + 3*sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster},
			{at: mdi + 4*sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster},
		},
	}})
}
