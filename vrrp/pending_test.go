package vrrp

import (
	"testing"
	"time"
)

// stalledTransport is a fakeTransport whose adverts wait "in the socket"
// (Pending reports them) until the test lets the read loop have them: the
// read loop of a daemon that was stalled.
type stalledTransport struct {
	*fakeTransport
	queued chan received // in the socket, not read yet
	gate   chan struct{} // closed: ReadFrom may read
	asked  chan struct{} // gets a value each time Pending reports true
}

func (s *stalledTransport) ReadFrom(b []byte) (int, RecvInfo, error) {
	select {
	case <-s.gate:
	case <-s.closed:
		return s.fakeTransport.ReadFrom(b)
	}
	select {
	case r := <-s.queued:
		return copy(b, r.b), r.info, nil
	default:
		return s.fakeTransport.ReadFrom(b)
	}
}

func (s *stalledTransport) pending() bool {
	if len(s.queued) == 0 {
		return false
	}
	select {
	case s.asked <- struct{}{}:
	default:
	}
	return true
}

// TestBackupReadsQueuedAdvertsFirst: a BACKUP whose master-down timer
// expires while an advert of the master waits in its socket, unread (the
// daemon was stalled), handles that advert before the timer, and stays
// BACKUP: the master was on time.
func TestBackupReadsQueuedAdvertsFirst(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	st := &stalledTransport{fakeTransport: newFakeTransport(local), queued: make(chan received, 4),
		gate: make(chan struct{}), asked: make(chan struct{}, 1)}
	h := newInstanceHarness(t, testConfig(), st.fakeTransport, newFakeOwner(), func(o *Options) { o.Transport = st })
	h.run(t)
	h.clock.WaitArmed(t, t0.Add(mdi))
	h.wantState(t, StateBackup)

	// The master's advert arrives just before the timer expires, but the
	// read loop does not get to it before the timer fires.
	h.clock.Advance(mdi - time.Millisecond)
	st.queued <- received{b: advertBytes(t, higher, 200, time.Second), info: RecvInfo{Src: higher, Dst: MulticastIPv4, TTL: 255}}
	h.clock.Advance(time.Millisecond)
	select {
	case <-st.asked:
	case <-time.After(5 * time.Second):
		t.Fatalf("the expired timer was acted on without looking for adverts waiting in the socket; state %v", h.inst.Snapshot().State)
	}
	close(st.gate)
	h.waitSnapshot(t, "the queued advert handled", func(s Snapshot) bool { return s.Master != nil })
	h.wantState(t, StateBackup)
	if s := h.inst.Snapshot(); s.Counters.Transitions != 1 {
		t.Fatalf("%d transitions, want 1 (INIT to BACKUP)", s.Counters.Transitions)
	}
	st.noneSent(t)
}
