package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// readyAt is when the wait of the ready tests began.
var readyAt = time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)

// readiedInstance is VRRP instance vip, ready, with preemption and
// priority 150, in state st, its VIP on the interface or not, and master
// heard at heard with priority prio (none when heard is zero).
func readiedInstance(st vrrp.State, vipHere bool, heard time.Time, prio uint8) control.VRRP {
	in := control.VRRP{Snapshot: vrrp.Snapshot{Name: "vip", Interface: "eth0", VRID: 51, State: st, Since: readyAt.Add(-time.Hour),
		ConfiguredPriority: 150, EffectivePriority: 150, Preempt: true, Reason: "link down"}}
	if !heard.IsZero() {
		in.Master = &vrrp.MasterInfo{Addr: netip.MustParseAddr("192.0.2.2"), Priority: prio, Heard: heard}
	}
	in.Addresses.VIPs = []netsetup.VIPSnapshot{{Prefix: netip.MustParsePrefix("192.0.2.100/24"), Present: vipHere, Owned: vipHere}}
	return in
}

func TestReadyOf(t *testing.T) {
	after, before := readyAt.Add(50*time.Millisecond), readyAt.Add(-50*time.Millisecond)
	tracked := readiedInstance(vrrp.StateBackup, false, after, 100)
	tracked.EffectivePriority = 90
	noPreempt := readiedInstance(vrrp.StateBackup, false, after, 100)
	noPreempt.Preempt = false
	owner := readiedInstance(vrrp.StateBackup, false, after, 200)
	owner.Preempt, owner.ConfiguredPriority, owner.EffectivePriority = false, 255, 255
	delayed := readiedInstance(vrrp.StateBackup, false, after, 100)
	delayed.PreemptDelay = 30 * time.Second
	released := readiedInstance(vrrp.StateBackup, false, after, 100)
	released.Released = true
	for _, c := range []struct {
		name            string
		in              control.VRRP
		done, abandoned bool
		line            string
	}{
		{"MASTER with its VIP", readiedInstance(vrrp.StateMaster, true, time.Time{}, 0), true, false,
			"vip: MASTER with priority 150, holding the VIPs"},
		{"MASTER adding its VIP", readiedInstance(vrrp.StateMaster, false, time.Time{}, 0), false, false,
			"vip: MASTER with priority 150, adding VIP 192.0.2.100/24 to eth0"},
		{"BACKUP of a higher master", readiedInstance(vrrp.StateBackup, false, after, 200), true, false,
			"vip: BACKUP with priority 150, ready to take over should 192.0.2.2 (priority 200) fail"},
		{"BACKUP of a master of equal priority", readiedInstance(vrrp.StateBackup, false, after, 150), true, false,
			"vip: BACKUP with priority 150, ready to take over should 192.0.2.2 (priority 150) fail"},
		{"BACKUP, master heard only before", readiedInstance(vrrp.StateBackup, false, before, 200), false, false,
			"vip: BACKUP with priority 150, no master heard yet"},
		{"BACKUP, no master ever", readiedInstance(vrrp.StateBackup, false, time.Time{}, 0), false, false,
			"vip: BACKUP with priority 150, no master heard yet"},
		{"BACKUP to preempt", readiedInstance(vrrp.StateBackup, false, after, 100), false, false,
			"vip: BACKUP with priority 150, to take the VIPs over from 192.0.2.2 (priority 100)"},
		{"BACKUP to preempt after a delay", delayed, false, false,
			"vip: BACKUP with priority 150, to take the VIPs over from 192.0.2.2 (priority 100) once its preempt_delay (30s) has passed"},
		{"BACKUP, the master releasing", readiedInstance(vrrp.StateBackup, false, after, 0), false, false,
			"vip: BACKUP with priority 150, taking the VIPs over from 192.0.2.2, which is releasing them"},
		{"BACKUP without preemption", noPreempt, true, false,
			"vip: BACKUP with priority 150, ready to take over: 192.0.2.2 (priority 100) keeps the VIPs, since preemption is off"},
		{"BACKUP, tracks lower the priority", tracked, true, false,
			"vip: BACKUP with priority 90 (its tracks lower it from 150), ready to take over should 192.0.2.2 (priority 100) fail"},
		{"the address owner preempts", owner, false, false, "vip: BACKUP with priority 255, to take the VIPs over from 192.0.2.2 (priority 200)"},
		{"FAULT", readiedInstance(vrrp.StateFault, false, time.Time{}, 0), false, false, "vip: FAULT: link down"},
		{"released again", released, false, true, "vip is released again (rmqlb vrrp release): BACKUP"},
	} {
		r := readyOf(c.in, readyAt)
		if r.done != c.done || r.abandoned != c.abandoned || !strings.HasPrefix(r.line, c.line) {
			t.Errorf("%s: %+v, want done %v, abandoned %v, line %q", c.name, r, c.done, c.abandoned, c.line)
		}
	}
}

// TestReadyWait runs `rmqlb vrrp ready --wait` against a daemon whose
// status goes through the given instance states, one per poll, the last
// one repeated: it waits until the instance is back in the election, and
// fails when it is not within --timeout or is released again first.
func TestReadyWait(t *testing.T) {
	fresh := readyAt.Add(time.Second)
	released := readiedInstance(vrrp.StateBackup, false, fresh, 200)
	released.Released = true
	// The daemon's clock: the first poll begins the wait at readyAt.
	clock := func(poll int) time.Time { return readyAt.Add(time.Duration(poll-1) * time.Second) }
	runWaitCases(t, "ready", readiedInstance(vrrp.StateBackup, false, time.Time{}, 0).Snapshot, clock, []waitCase{
		{"preempts", []control.VRRP{readiedInstance(vrrp.StateBackup, false, fresh, 100), readiedInstance(vrrp.StateMaster, false, time.Time{}, 0),
			readiedInstance(vrrp.StateMaster, true, time.Time{}, 0)}, nil, 0,
			"vip: ready, BACKUP with priority 150 (waiting until it is back in the election)\nvip: MASTER with priority 150, holding the VIPs", ""},
		{"backs a higher master up", []control.VRRP{readiedInstance(vrrp.StateBackup, false, time.Time{}, 0), readiedInstance(vrrp.StateBackup, false, fresh, 200)}, nil, 0,
			"vip: BACKUP with priority 150, ready to take over should 192.0.2.2 (priority 200) fail", ""},
		{"a master heard before the wait", []control.VRRP{readiedInstance(vrrp.StateBackup, false, readyAt.Add(-time.Second), 200)}, []string{"--timeout", "1s"}, 1, "",
			"rmqlb: the return of vip has not ended within 1s: vip: BACKUP with priority 150, no master heard yet"},
		{"FAULT", []control.VRRP{readiedInstance(vrrp.StateFault, false, time.Time{}, 0)}, []string{"--timeout", "1s"}, 1, "",
			"rmqlb: the return of vip has not ended within 1s: vip: FAULT: link down"},
		{"released again", []control.VRRP{readiedInstance(vrrp.StateBackup, false, time.Time{}, 0), released}, nil, 1, "",
			"rmqlb: vip is released again"},
	})
}
