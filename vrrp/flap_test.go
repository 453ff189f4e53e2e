package vrrp

import (
	"slices"
	"testing"
	"time"
)

// sameTransitions reports whether got are want but for their reasons,
// which must be there.
func sameTransitions(got, want []Transition) bool {
	return slices.EqualFunc(got, want, func(g, w Transition) bool {
		return g.At.Equal(w.At) && g.From == w.From && g.To == w.To && g.Reason != ""
	})
}

// TestRecentTransitions: the instance keeps its latest state changes
// between BACKUP, MASTER and FAULT, when and why each happened, at most
// RecentTransitionsKept of them; its start and its stop (from and to INIT)
// are not among them.
func TestRecentTransitions(t *testing.T) {
	const mdi = 3609375 * time.Microsecond // priority 100, 1 s adverts
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)
	h.clock.WaitArmed(t, t0.Add(mdi))
	if s := h.inst.Snapshot(); s.RecentTransitions != nil {
		t.Fatalf("BACKUP from the start: recent transitions %v", s.RecentTransitions)
	}
	var want []Transition
	for i := range RecentTransitionsKept {
		// MASTER when nobody speaks, BACKUP at a higher priority's advert.
		h.clock.WaitArmed(t, h.clock.Now().Add(mdi))
		h.clock.Advance(mdi)
		h.waitSnapshot(t, "MASTER", func(s Snapshot) bool { return s.State == StateMaster })
		want = append(want, Transition{At: h.clock.Now(), From: StateBackup, To: StateMaster})
		h.clock.Advance(100 * time.Millisecond)
		tr.inject(t, advertBytes(t, higher, 200, time.Second), higher, MulticastIPv4, 255)
		h.waitSnapshot(t, "BACKUP", func(s Snapshot) bool { return s.State == StateBackup })
		want = append(want, Transition{At: h.clock.Now(), From: StateMaster, To: StateBackup})
		if s := h.inst.Snapshot(); i == 0 && !sameTransitions(s.RecentTransitions, want) {
			t.Fatalf("recent transitions %v, want %v", s.RecentTransitions, want)
		}
	}
	s := h.inst.Snapshot()
	if w := want[len(want)-RecentTransitionsKept:]; !sameTransitions(s.RecentTransitions, w) {
		t.Errorf("recent transitions %v, want the last %d: %v", s.RecentTransitions, RecentTransitionsKept, w)
	}
	if s.Counters.Transitions != uint64(1+len(want)) {
		t.Errorf("%d transitions counted, want %d", s.Counters.Transitions, 1+len(want))
	}
	if r := s.RecentTransitions[len(s.RecentTransitions)-1].Reason; r != s.Reason {
		t.Errorf("the last transition's reason %q, want the state's %q", r, s.Reason)
	}
	if n := s.TransitionsSince(want[len(want)-3].At); n != 2 {
		t.Errorf("TransitionsSince the third last: %d, want 2", n)
	}
	h.shutdown(t)
	if s := h.inst.Snapshot(); !sameTransitions(s.RecentTransitions, want[len(want)-RecentTransitionsKept:]) {
		t.Errorf("after the stop: recent transitions %v", s.RecentTransitions)
	}
}

// TestCarryTransitions: the state changes handed over by the process this
// one succeeds are the instance's own, the latest RecentTransitionsKept of
// them, and its next change follows them; once Run has started they can no
// longer be given.
func TestCarryTransitions(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	var carried []Transition
	for i := range RecentTransitionsKept + 2 {
		carried = append(carried, Transition{At: t0.Add(time.Duration(i-20) * time.Second), From: StateMaster, To: StateBackup, Reason: "higher priority master"})
	}
	tr := newFakeTransport(local)
	h := newInstanceHarness(t, testConfig(), tr, newFakeOwner())
	if err := h.inst.CarryTransitions(carried); err != nil {
		t.Fatal(err)
	}
	want := carried[2:]
	if s := h.inst.Snapshot(); !slices.Equal(s.RecentTransitions, want) {
		t.Fatalf("recent transitions %v, want %v", s.RecentTransitions, want)
	}
	// Its next change follows them.
	h.run(t)
	h.clock.WaitArmed(t, t0.Add(mdi))
	if err := h.inst.CarryTransitions(carried); err == nil {
		t.Error("CarryTransitions after Run: no error")
	}
	h.clock.Advance(mdi)
	h.waitSnapshot(t, "MASTER", func(s Snapshot) bool { return s.State == StateMaster })
	want = append(carried[3:], Transition{At: t0.Add(mdi), From: StateBackup, To: StateMaster})
	if s := h.inst.Snapshot(); !sameTransitions(s.RecentTransitions, want) {
		t.Errorf("recent transitions %v, want %v", s.RecentTransitions, want)
	}
}

// TestSnapshotStateHasItsTransition: a Snapshot taken while the instance
// changes state never shows the new state without the change that led to
// it: the state and its transition are taken under one lock.
func TestSnapshotStateHasItsTransition(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)
	h.clock.WaitArmed(t, t0.Add(mdi))
	stop := make(chan struct{})
	bad := make(chan Snapshot, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(bad)
				return
			default:
			}
			s := h.inst.Snapshot()
			if n := len(s.RecentTransitions); n > 0 && s.RecentTransitions[n-1].To != s.State {
				select {
				case bad <- s:
				default:
				}
			}
		}
	}()
	for range 50 { // the fake transport takes 100 packets
		h.clock.WaitArmed(t, h.clock.Now().Add(mdi))
		h.clock.Advance(mdi)
		h.waitSnapshot(t, "MASTER", func(s Snapshot) bool { return s.State == StateMaster })
		h.clock.Advance(100 * time.Millisecond)
		tr.inject(t, advertBytes(t, higher, 200, time.Second), higher, MulticastIPv4, 255)
		h.waitSnapshot(t, "BACKUP", func(s Snapshot) bool { return s.State == StateBackup })
	}
	close(stop)
	if s, ok := <-bad; ok {
		t.Errorf("a snapshot in %s whose last transition is %+v", s.State, s.RecentTransitions[len(s.RecentTransitions)-1])
	}
}
