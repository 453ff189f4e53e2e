package main

import (
	"bytes"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// releasedAt is when the instances of the handover tests were released.
var releasedAt = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// releasedInstance is VRRP instance vip, released at releasedAt, in state
// st since since, with its VIP on the interface or not.
func releasedInstance(st vrrp.State, since time.Time, vipHere bool) control.VRRP {
	in := control.VRRP{Snapshot: vrrp.Snapshot{Name: "vip", Interface: "eth0", VRID: 51, State: st, Since: since,
		Released: true, ReleasedSince: releasedAt}}
	in.Addresses.VIPs = []netsetup.VIPSnapshot{{Prefix: netip.MustParsePrefix("192.0.2.100/24"), Present: vipHere, Owned: vipHere}}
	return in
}

// handedOver is the handover of releasedInstance to 192.0.2.2: heard 60 ms
// after the release, the VIPs released 100 ms later (done) or not yet.
func handedOver(in control.VRRP, done bool) control.VRRP {
	in.Handover = &vrrp.Handover{Peer: netip.MustParseAddr("192.0.2.2"), PeerPriority: 100, Planned: true, Requested: releasedAt,
		PeerHeard: releasedAt.Add(60 * time.Millisecond), Outcome: "192.0.2.2 announced the VIPs", Announced: done}
	if done {
		in.Handover.Done = releasedAt.Add(160 * time.Millisecond)
	}
	return in
}

func TestHandoverOf(t *testing.T) {
	now := releasedAt.Add(2 * time.Second)
	earlier := handedOver(releasedInstance(vrrp.StateBackup, releasedAt.Add(-time.Hour), false), true)
	earlier.Handover.Requested = releasedAt.Add(-time.Hour)
	readied := releasedInstance(vrrp.StateMaster, releasedAt.Add(time.Second), true)
	readied.Released, readied.EffectivePriority = false, 150
	for _, c := range []struct {
		name            string
		in              control.VRRP
		done, abandoned bool
		line            string
		stuck           string // "": none
	}{
		{"MASTER since before the release", releasedInstance(vrrp.StateMaster, releasedAt.Add(-time.Hour), true), false, false,
			"vip: MASTER for 2s, advertising priority 0: no other router has taken over yet",
			"vip: MASTER for 2s, advertising priority 0: no other router has taken over (does rmqlb or keepalived with VRID 51 run on the other hosts, not released there too"},
		{"MASTER again as the last resort", releasedInstance(vrrp.StateMaster, releasedAt.Add(1500*time.Millisecond), true), false, false,
			"vip: MASTER for 500ms, advertising priority 0", "vip: MASTER for 500ms, advertising priority 0: no other router has taken over ("},
		{"BACKUP, VIPs kept until announced", handedOver(releasedInstance(vrrp.StateBackup, releasedAt.Add(60*time.Millisecond), true), false), false, false,
			"vip: BACKUP, 192.0.2.2 (priority 100) has taken over; this host keeps the VIPs until it has announced them", ""},
		{"handed over", handedOver(releasedInstance(vrrp.StateBackup, releasedAt.Add(60*time.Millisecond), false), true), true, false,
			"vip: handed over to 192.0.2.2 (priority 100) in 160ms; the VIPs left this host 100ms after its advert: 192.0.2.2 announced the VIPs", ""},
		{"BACKUP when released, an earlier handover", earlier, true, false, "vip: BACKUP, holding no VIP", ""},
		{"BACKUP with a VIP still here", releasedInstance(vrrp.StateBackup, releasedAt.Add(-time.Hour), true), false, false,
			"vip: BACKUP, removing VIP 192.0.2.100/24 from eth0", ""},
		{"FAULT", releasedInstance(vrrp.StateFault, releasedAt.Add(-time.Hour), false), true, false, "vip: FAULT, holding no VIP", ""},
		{"readied", readied, false, true, "vip is no longer released (rmqlb vrrp ready, or the end of its --for): MASTER with priority 150", ""},
	} {
		h := handoverOf(c.in, now)
		if h.done != c.done || h.abandoned != c.abandoned || !strings.HasPrefix(h.line, c.line) || !strings.HasPrefix(h.stuck, c.stuck) || (c.stuck == "") != (h.stuck == "") {
			t.Errorf("%s: %+v, want done %v, abandoned %v, line %q, stuck %q", c.name, h, c.done, c.abandoned, c.line, c.stuck)
		}
	}
}

// TestReleaseWait runs `rmqlb vrrp release --wait` against a daemon whose
// status goes through the given instance states, one per poll, the last
// one repeated: it waits until the instance has handed its VIPs over, and
// fails when the handover does not come within --timeout or the release
// ends first.
func TestReleaseWait(t *testing.T) {
	master := releasedInstance(vrrp.StateMaster, releasedAt.Add(-time.Hour), true)
	readied := master
	readied.Released = false
	// The daemon's clock stands still: the handover's times are its own.
	f := runWaitCases(t, "release", master.Snapshot, func(int) time.Time { return releasedAt.Add(time.Second) }, []waitCase{
		{"handed over", []control.VRRP{master, handedOver(releasedInstance(vrrp.StateBackup, releasedAt, true), false),
			handedOver(releasedInstance(vrrp.StateBackup, releasedAt, false), true)}, nil, 0,
			"(waiting for the handover)\nvip: handed over to 192.0.2.2 (priority 100) in 160ms", ""},
		{"no other router", []control.VRRP{master}, []string{"--timeout", "1s"}, 1, "",
			"rmqlb: the handover of vip has not ended within 1s: vip: MASTER for 1s, advertising priority 0: no other router has taken over"},
		{"readied meanwhile", []control.VRRP{master, readied}, nil, 1, "", "rmqlb: vip is no longer released"},
	})
	for _, args := range [][]string{{"vrrp", "release", "vip", "--timeout", "5s"},
		{"vrrp", "release", "vip", "--wait", "--timeout", "0s"}, {"vrrp", "ready", "vip", "--timeout", "5s"}} {
		var out, errb bytes.Buffer
		if code := run(append(args, "--socket", f.sock), &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage:") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and the usage", args, code, errb.String())
		}
	}
}

// waitCase is a run of `rmqlb vrrp release|ready --wait` with flags
// against a daemon whose status goes through the instance states of seq,
// one per poll, the last one repeated: its exit code, and what its stdout
// and stderr contain.
type waitCase struct {
	name     string
	seq      []control.VRRP
	flags    []string
	code     int
	out, err string
}

// runWaitCases runs each case of `rmqlb vrrp sub --wait` against one fake
// daemon that answers the command with answer and gives its status of
// the n-th poll (from 1) of a case the time clock(n); it returns the
// daemon.
func runWaitCases(t *testing.T, sub string, answer vrrp.Snapshot, clock func(poll int) time.Time, cases []waitCase) *fakeDaemon {
	t.Helper()
	var mu sync.Mutex
	var seq []control.VRRP
	polls := 0
	f := newFakeDaemon(t, func(req control.Request) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if req.Command == "vrrp" {
			return control.VRRPAnswer{Snapshot: answer}, nil
		}
		in := seq[0]
		if len(seq) > 1 {
			seq = seq[1:]
		}
		polls++
		return control.Status{PID: 7, Now: clock(polls), VRRP: []control.VRRP{in}}, nil
	})
	for _, c := range cases {
		mu.Lock()
		seq, polls = c.seq, 0
		mu.Unlock()
		var out, errb bytes.Buffer
		args := append([]string{"vrrp", sub, "--socket", f.sock, "vip", "--wait"}, c.flags...)
		code := run(args, &out, &errb)
		if code != c.code || !strings.Contains(out.String(), c.out) || !strings.Contains(errb.String(), c.err) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d, %q, %q", c.name, code, out.String(), errb.String(), c.code, c.out, c.err)
		}
	}
	return f
}
