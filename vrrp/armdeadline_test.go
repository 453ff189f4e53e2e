package vrrp

import (
	"testing"
	"time"
)

// TestInstanceArmsAtDeadline: the time moves on between the loop working
// out a MASTER's next advert and arming its timer; the advert still goes
// out at its deadline, not that much later.
func TestInstanceArmsAtDeadline(t *testing.T) {
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)
	mdi := 3*time.Second + 156*time.Second/256
	h.becomeMaster(t, mdi)

	// A new priority is advertised at once; the next advert is due one
	// interval later, and the time moves 400 ms before the loop arms.
	h.clock.DropArms()
	h.clock.AdvanceAtNextArm(400 * time.Millisecond)
	h.inst.SetPriorityAdjust(-10)
	if p := tr.nextSent(t); p.Priority != 90 {
		t.Fatalf("advert after adjust %+v", p)
	}
	due := t0.Add(mdi + time.Second)
	if a := h.clock.NextArm(t); !a.At.Equal(due) {
		t.Fatalf("advert timer armed for %v, want %v", a.At, due)
	}
	if now := h.clock.Now(); !now.Equal(due.Add(-600 * time.Millisecond)) {
		t.Fatalf("the time is %v: it did not move before the arming", now)
	}
	h.clock.Set(due)
	if p := tr.nextSent(t); p.Priority != 90 {
		t.Fatalf("advert at its deadline %+v", p)
	}
}
