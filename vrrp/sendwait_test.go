package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// waitingFake is a fakeTransport that can wait for room in its send
// buffer: it records the priority of each advert sent that way, and the
// wait it was given.
type waitingFake struct {
	*fakeTransport
	mu     sync.Mutex
	waited []string
}

func (w *waitingFake) WriteToWaiting(b []byte, dst netip.Addr, wait time.Duration) error {
	w.mu.Lock()
	w.waited = append(w.waited, fmt.Sprintf("priority %d, wait %v", b[2], wait))
	w.mu.Unlock()
	return w.WriteTo(b, dst)
}

// TestResignWaitsForRoom: the priority-0 advert of a master that stops
// goes through WriteToWaiting with resignWait's bound; the periodic
// adverts do not wait.
func TestResignWaitsForRoom(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	tr := newFakeTransport(local)
	wf := &waitingFake{fakeTransport: tr}
	h := newInstanceHarness(t, testConfig(), tr, newFakeOwner(), func(o *Options) { o.Transport = wf })
	h.run(t)
	h.clock.WaitArmed(t, t0.Add(mdi))
	h.clock.Advance(mdi)
	if p := tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	h.clock.WaitArmed(t, t0.Add(mdi+time.Second))
	h.clock.Advance(time.Second)
	if p := tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	h.shutdown(t)
	if p := tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("shutdown advert %+v", p)
	}
	wf.mu.Lock()
	defer wf.mu.Unlock()
	if want := []string{"priority 0, wait 1s"}; !slices.Equal(wf.waited, want) {
		t.Fatalf("sent waiting for room: %q, want %q", wf.waited, want)
	}
}

func TestResignWait(t *testing.T) {
	for _, c := range []struct{ interval, want time.Duration }{
		{10 * time.Millisecond, 10 * time.Millisecond},
		{time.Second, time.Second},
		{3 * time.Second, time.Second},
	} {
		if got := resignWait(c.interval); got != c.want {
			t.Errorf("resignWait(%v) = %v, want %v", c.interval, got, c.want)
		}
	}
}
