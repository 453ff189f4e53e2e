package vrrp

import (
	"testing"
	"time"
)

// An instance started with Adopt is MASTER at once: it advertises and
// acquires the VIPs before any master down interval, so the backups hear
// no gap.
func TestInstanceAdoptIsMasterAtOnce(t *testing.T) {
	tr := newFakeTransport(local)
	owner := newFakeOwner()
	h := newInstanceHarness(t, testConfig(), tr, owner)
	if err := h.inst.Adopt(Adoption{State: StateMaster}); err != nil {
		t.Fatal(err)
	}
	h.run(t)
	if p := tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("first advert %+v", p)
	}
	if c := owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q", c)
	}
	h.clock.WaitArmed(t, t0.Add(time.Second))
	h.wantState(t, StateMaster)
}

// StopQuietly ends Run without the Shutdown step: no priority-0 advert, no
// release, the state stays MASTER. Without it the same instance sends
// priority 0 and releases (TestInstanceBackupMasterShutdown).
func TestInstanceStopQuietly(t *testing.T) {
	tr := newFakeTransport(local)
	owner := newFakeOwner()
	h := newInstanceHarness(t, testConfig(), tr, owner)
	if err := h.inst.Adopt(Adoption{State: StateMaster}); err != nil {
		t.Fatal(err)
	}
	h.run(t)
	tr.nextSent(t)
	if c := owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q", c)
	}
	h.clock.WaitArmed(t, t0.Add(time.Second))
	h.inst.StopQuietly()
	h.shutdown(t)
	tr.noneSent(t)
	owner.noCall(t)
	h.wantState(t, StateMaster)
}

// Adopt after Run has started is refused: the startup is over.
func TestInstanceAdoptAfterRun(t *testing.T) {
	h := startInstance(t, testConfig(), newFakeTransport(local))
	h.clock.WaitArmed(t, t0.Add(3609375*time.Microsecond))
	if err := h.inst.Adopt(Adoption{State: StateMaster}); err == nil {
		t.Fatal("Adopt after Run: no error")
	}
	if err := newInstanceHarness(t, testConfig(), newFakeTransport(local), newFakeOwner()).inst.Adopt(Adoption{State: StateFault}); err == nil {
		t.Fatal("Adopt of FAULT: no error")
	}
}

// StopQuietly of a master that yielded to a peer and still holds the VIPs
// (until the peer has announced them) shuts down as usual: it releases
// them, since the process that takes over does not hold them.
func TestInstanceStopQuietlyWhileLingering(t *testing.T) {
	tr := newFakeTransport(local)
	h, owner := startAnnouncingMaster(t, tr)
	waitApplied(t, h.inst.StepDown(0, "maintenance"))
	tr.nextSent(t)
	tr.inject(t, advertBytes(t, higher, 100, time.Second), higher, MulticastIPv4, 255)
	h.waitSnapshot(t, "BACKUP", func(s Snapshot) bool { return s.State == StateBackup })
	if c := owner.next(t); c != "quiet" {
		t.Fatalf("owner call %q", c)
	}
	h.inst.StopQuietly()
	h.shutdown(t)
	if c := owner.next(t); c != "release" {
		t.Fatalf("owner call at the stop %q, want release", c)
	}
	if s := h.inst.Snapshot(); s.State != StateInit {
		t.Errorf("state after the stop %v, want INIT", s.State)
	}
}

// StopQuietly of a BACKUP leaves it BACKUP: no state change, no owner
// call; the successor carries it on.
func TestInstanceStopQuietlyBackup(t *testing.T) {
	tr := newFakeTransport(local)
	owner := newFakeOwner()
	h := startInstanceWith(t, testConfig(), tr, owner)
	h.clock.WaitArmed(t, t0.Add(3609375*time.Microsecond))
	h.inst.StopQuietly()
	h.shutdown(t)
	tr.noneSent(t)
	owner.noCall(t)
	h.wantState(t, StateBackup)
}
