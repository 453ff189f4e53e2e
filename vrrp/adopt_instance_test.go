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
	if err := h.inst.Adopt(); err != nil {
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
	if err := h.inst.Adopt(); err != nil {
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
	if err := h.inst.Adopt(); err == nil {
		t.Fatal("Adopt after Run: no error")
	}
}
