package vrrp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var errConflict = errors.New("adding VIP 10.99.0.100/24: already present without rmqlb's marker")

func TestMachineOwnerFault(t *testing.T) {
	const mdi = 3609375 * time.Microsecond // prio 100, 1s
	sec := time.Second
	runMachineCases(t, []machineCase{
		{
			name: "master: priority 0, release and FAULT; back as at startup once recovered",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{100}, Acquire{}}},
				{at: mdi + sec/2, ev: OwnerFault{Err: errConflict},
					want:  []Action{SendAdvert{0}, change(StateMaster, StateFault, "cannot hold the VIPs: adding VIP"), Release{}},
					state: StateFault, noTimer: true},
				{at: mdi + sec, ev: Tick{}, state: StateFault, noTimer: true},
				{at: mdi + sec, ev: advertFrom(higher, 0, sec), state: StateFault, noTimer: true},
				// The link flapping meanwhile changes nothing.
				{at: 5 * sec, ev: LinkDown{}, state: StateFault, noTimer: true},
				{at: 6 * sec, ev: LinkUp{}, state: StateFault, noTimer: true},
				// Another error while in FAULT: still FAULT, no action.
				{at: 7 * sec, ev: OwnerFault{Err: errors.New("other")}, state: StateFault, noTimer: true},
				{at: 10 * sec, ev: OwnerRecovered{}, want: []Action{change(StateFault, StateBackup, "VIPs can be held again")},
					state: StateBackup, deadline: 10*sec + mdi},
			},
		},
		{
			name: "backup: FAULT without advert",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: OwnerFault{Err: errConflict}, want: []Action{change(StateBackup, StateFault, "cannot hold the VIPs")},
					state: StateFault, noTimer: true},
				{at: 2 * sec, ev: OwnerRecovered{}, want: []Action{change(StateFault, StateBackup, "")}, deadline: 2*sec + mdi},
			},
		},
		{
			name: "fault before startup, link down too: FAULT until both are over",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: OwnerFault{Err: errConflict}, state: StateInit, checkInit: true},
				{ev: Startup{}, want: []Action{change(StateInit, StateFault, "startup: cannot hold the VIPs")}, state: StateFault, noTimer: true},
				{at: sec, ev: LinkDown{}, state: StateFault},
				{at: 2 * sec, ev: OwnerRecovered{}, state: StateFault, noTimer: true},
				{at: 3 * sec, ev: LinkUp{}, want: []Action{change(StateFault, StateMaster, "link up"), SendAdvert{255}, Acquire{}}, state: StateMaster},
			},
		},
	})
}

// faultingOwner is a fakeOwner that watches its addresses: the test
// reports faults through what Run registered.
type faultingOwner struct {
	*fakeOwner
	faults registered[error]
}

func (o *faultingOwner) ReportFaults(report func(error)) { o.faults.set(report) }

func (o *faultingOwner) fault(t *testing.T, err error) {
	t.Helper()
	o.faults.call(t, err)
}

// An owner that cannot hold the VIPs any more makes the master resign
// (priority 0, so that a backup takes over at once), release and go to
// FAULT, counted; it comes back as BACKUP once the owner recovers.
func TestInstanceOwnerFault(t *testing.T) {
	tr := newFakeTransport(local)
	owner := &faultingOwner{fakeOwner: newFakeOwner()}
	h := startInstanceWith(t, testConfig(), tr, owner)
	const mdi = 3609375 * time.Microsecond
	h.becomeMaster(t, mdi)

	owner.fault(t, errConflict)
	if p := tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("advert on fault %+v, want priority 0", p)
	}
	if c := owner.next(t); c != "release" {
		t.Fatalf("owner call %q", c)
	}
	h.waitSnapshot(t, "FAULT", func(s Snapshot) bool { return s.State == StateFault })
	s := h.inst.Snapshot()
	if !strings.Contains(s.OwnerFault, "without rmqlb's marker") || !strings.Contains(s.Reason, "cannot hold the VIPs") ||
		s.Counters.OwnerFaults != 1 {
		t.Fatalf("snapshot in FAULT: owner fault %q, reason %q, faults %d", s.OwnerFault, s.Reason, s.Counters.OwnerFaults)
	}
	if got := metricValue(t, h.reg, "rmqlb_vrrp_owner_faults_total", ""); got != 1 {
		t.Fatalf("owner faults metric %v", got)
	}
	// Nothing is sent in FAULT, whatever the time.
	h.clock.Advance(10 * time.Second)
	tr.noneSent(t)

	owner.fault(t, nil)
	now := t0.Add(mdi + 10*time.Second)
	h.clock.WaitArmed(t, now.Add(mdi))
	if s := h.inst.Snapshot(); s.State != StateBackup || s.OwnerFault != "" || !strings.Contains(s.Reason, "can be held again") {
		t.Fatalf("after recovery: state %v, owner fault %q, reason %q", s.State, s.OwnerFault, s.Reason)
	}
	// Nobody else speaks: master again, and the owner acquires again.
	h.clock.Advance(mdi)
	if p := tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	if c := owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q", c)
	}
}
