package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSendFailureRun: a MASTER whose adverts to one of its unicast peers
// fail (no route to it) is in a run of failed sends, which its snapshot
// shows with the peer, why, since when and how many, and the log says
// once; the run ends at the first advert that reaches every peer. The
// reports of an advert sender do the same: failures continue a run, sends
// alone end it.
func TestSendFailureRun(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	p1, p2 := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.3")
	cfg := testConfig(func(c *Config) {
		c.UnicastSrc = local
		c.UnicastPeers = []netip.Addr{p1, p2}
	})
	tr := newFakeTransport(local, p1, p2)
	h := startInstanceWith(t, cfg, tr, newFakeOwner())
	h.clock.WaitArmed(t, t0.Add(mdi))
	h.clock.Advance(mdi)
	tr.nextSent(t)
	tr.nextSent(t)
	if c := h.owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q", c)
	}
	now := t0.Add(mdi)
	h.clock.WaitArmed(t, now.Add(time.Second))
	if f := h.inst.Snapshot().SendFailing; f != nil {
		t.Fatalf("SendFailing %+v with every advert sent", f)
	}

	tr.failSends(p2, unix.EHOSTUNREACH)
	first := now.Add(time.Second)
	for k := range 2 {
		now = now.Add(time.Second)
		h.clock.Advance(time.Second)
		if p := tr.nextSent(t); p.Priority != 100 {
			t.Fatalf("advert to %v: %+v", p1, p)
		}
		h.clock.WaitArmed(t, now.Add(time.Second))
		f := h.inst.Snapshot().SendFailing
		if f == nil || f.Dst != p2 || !strings.Contains(f.Error, "no route to host") || !f.Since.Equal(first) || !f.At.Equal(now) || f.Failed != uint64(k+1) {
			t.Fatalf("after %d adverts: SendFailing %+v, want %d failed to %v since %v", k+1, f, k+1, p2, first)
		}
	}
	if n := h.logs.FilterMessageSnippet("sending VRRP advert failed").Len(); n != 1 {
		t.Errorf("the failures logged %d times, want once", n)
	}
	tr.failSends(p2, nil)
	now = now.Add(time.Second)
	h.clock.Advance(time.Second)
	tr.nextSent(t)
	tr.nextSent(t)
	h.clock.WaitArmed(t, now.Add(time.Second))
	if f := h.inst.Snapshot().SendFailing; f != nil {
		t.Fatalf("SendFailing %+v after an advert reached every peer", f)
	}
	if n := h.logs.FilterMessageSnippet("VRRP adverts are sent again").Len(); n != 1 {
		t.Errorf("the end of the run logged %d times, want once", n)
	}
	if c := h.inst.Snapshot().Counters; c.SendErrors != 2 {
		t.Errorf("send errors %d, want 2", c.SendErrors)
	}

	// An advert sender's reports.
	h.inst.senderReport(SendReport{Sent: 3, Failed: 2, FailedDst: p2, FailedErr: errors.New("sending VRRP advert to 10.99.0.3: network is unreachable")})
	if f := h.inst.Snapshot().SendFailing; f == nil || f.Dst != p2 || f.Failed != 2 || !strings.Contains(f.Error, "network is unreachable") {
		t.Fatalf("after a report of 2 failed sends: SendFailing %+v", f)
	}
	h.inst.senderReport(SendReport{Failed: 1, FailedDst: p1})
	if f := h.inst.Snapshot().SendFailing; f == nil || f.Dst != p1 || f.Failed != 3 || f.Error == "" {
		t.Fatalf("after a report of another failed send, without why: SendFailing %+v", f)
	}
	h.inst.senderReport(SendReport{Sent: 4})
	if f := h.inst.Snapshot().SendFailing; f != nil {
		t.Fatalf("SendFailing %+v after a report of sends alone", f)
	}
}

// TestLowerMasterRun: the lower-priority masters a MASTER hears form a run
// while each comes within two master down intervals of the last: Since
// stays at the first, At follows the last; after a longer quiet the next
// one begins a new run.
func TestLowerMasterRun(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)
	h.becomeMaster(t, mdi)
	now := t0.Add(mdi)
	lower := func(want LowerMasterHeard) {
		t.Helper()
		tr.inject(t, advertBytes(t, higher, 50, time.Second), higher, MulticastIPv4, 255)
		h.waitSnapshot(t, fmt.Sprintf("lower master %d", want.Count), func(s Snapshot) bool {
			return s.LowerMaster != nil && s.LowerMaster.Count == want.Count
		})
		if got := *h.inst.Snapshot().LowerMaster; got != want {
			t.Fatalf("LowerMaster %+v, want %+v", got, want)
		}
	}
	advance := func(d time.Duration) {
		for end := now.Add(d); now.Before(end); {
			step := min(time.Second, end.Sub(now))
			now = now.Add(step)
			h.clock.Advance(step)
		}
	}
	advance(4 * time.Second) // a master down interval after becoming MASTER (its announcement)
	first := now
	lower(LowerMasterHeard{From: higher, Priority: 50, At: first, Since: first, Count: 1})
	advance(4 * time.Second) // past a master down interval: the machine reports it again
	lower(LowerMasterHeard{From: higher, Priority: 50, At: now, Since: first, Count: 2})
	advance(8 * time.Second) // more than two master down intervals of quiet
	lower(LowerMasterHeard{From: higher, Priority: 50, At: now, Since: now, Count: 3})
}
