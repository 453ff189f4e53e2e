package vrrp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// announcingOwner is a fakeOwner that reports announcements: the test
// announces through what Run registered.
type announcingOwner struct {
	*fakeOwner
	announcements registered[netip.Addr]
}

func (o *announcingOwner) ReportAnnouncements(report func(netip.Addr)) { o.announcements.set(report) }

// StopAnnouncing and ResumeAnnouncing are recorded as the owner calls
// "quiet" and "resume".
func (o *announcingOwner) StopAnnouncing()   { o.calls <- "quiet" }
func (o *announcingOwner) ResumeAnnouncing() { o.calls <- "resume" }

func (o *announcingOwner) announce(t *testing.T, a netip.Addr) {
	t.Helper()
	o.announcements.call(t, a)
}

// noCall fails if the owner was called.
func (o *fakeOwner) noCall(t *testing.T) {
	t.Helper()
	select {
	case c := <-o.calls:
		t.Fatalf("unexpected owner call %q", c)
	default:
	}
}

// waitApplied waits (bounded, real time) for a StepDown or Ready to be
// applied by Run.
func waitApplied(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not apply the request")
	}
}

// A released master advertises priority 0, keeps the VIPs after the new
// master's advert until the owner reports its announcement, and stays
// BACKUP; the snapshot tells all of it.
func TestInstanceRelease(t *testing.T) {
	tr := newFakeTransport(local)
	owner := &announcingOwner{fakeOwner: newFakeOwner()}
	h := startInstanceWith(t, testConfig(), tr, owner)
	const mdi = 3609375 * time.Microsecond
	h.becomeMaster(t, mdi)
	now := t0.Add(mdi)

	waitApplied(t, h.inst.StepDown(0, "maintenance of broker 1"))
	if p := tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("advert on release %+v, want priority 0", p)
	}
	s := h.inst.Snapshot()
	if s.State != StateMaster || !s.Released || !s.ReleasedSince.Equal(now) || !s.ReleasedUntil.IsZero() ||
		s.ReleaseReason != "maintenance of broker 1" || s.EffectivePriority != 0 {
		t.Fatalf("released master: %+v", s)
	}
	owner.noCall(t)

	// The backup took over: its advert makes us BACKUP, keeping the VIPs.
	tr.inject(t, advertBytes(t, higher, 100, time.Second), higher, MulticastIPv4, 255)
	h.waitSnapshot(t, "BACKUP", func(s Snapshot) bool { return s.State == StateBackup })
	// It stops announcing the VIPs it keeps.
	if c := owner.next(t); c != "quiet" {
		t.Fatalf("owner call %q, want quiet", c)
	}
	owner.noCall(t)
	if s := h.inst.Snapshot(); s.Handover == nil || s.Handover.Peer != higher || !s.Handover.Planned || !s.Handover.Done.IsZero() ||
		!strings.Contains(s.Handover.Outcome, "keeping the VIPs") {
		t.Fatalf("handover in progress: %+v", s.Handover)
	}
	// Its gratuitous ARP: now the VIPs go.
	owner.announce(t, vip.Addr())
	if c := owner.next(t); c != "release" {
		t.Fatalf("owner call %q", c)
	}
	h.waitSnapshot(t, "handover done", func(s Snapshot) bool { return s.Handover != nil && !s.Handover.Done.IsZero() })
	s = h.inst.Snapshot()
	if !s.Handover.Announced || s.Counters.Handovers != 1 || s.Counters.PeerAnnouncements != 1 || !s.Released {
		t.Fatalf("after the handover: %+v", s)
	}
	if n := len(h.logs.FilterMessage("VRRP handover done").All()); n != 1 {
		t.Fatalf("%d handover log lines", n)
	}

	// Ready: eligible again, with the configured priority.
	waitApplied(t, h.inst.Ready())
	if s := h.inst.Snapshot(); s.Released || s.EffectivePriority != 100 {
		t.Fatalf("after ready: %+v", s)
	}
}

// A release asked for before Run starts the instance released: it never
// becomes master while another router advertises, whatever its priority.
func TestInstanceReleaseBeforeRun(t *testing.T) {
	tr := newFakeTransport(local)
	owner := newFakeOwner()
	h := newInstanceHarness(t, testConfig(func(c *Config) { c.Priority = 255 }), tr, owner)
	done := h.inst.StepDown(0, "")
	select {
	case <-done:
		t.Fatal("applied before Run")
	default:
	}
	h.run(t)
	waitApplied(t, done)
	const relMDI = 4 * time.Second
	h.clock.WaitArmed(t, t0.Add(relMDI))
	if s := h.inst.Snapshot(); s.State != StateBackup || !s.Released {
		t.Fatalf("snapshot %+v", s)
	}
	tr.noneSent(t)
	owner.noCall(t)
}

// --for: the release ends by itself on the instance's clock.
func TestInstanceReleaseFor(t *testing.T) {
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)
	const mdi = 3609375 * time.Microsecond
	h.becomeMaster(t, mdi)
	waitApplied(t, h.inst.StepDown(1500*time.Millisecond, ""))
	if p := tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("advert %+v", p)
	}
	if s := h.inst.Snapshot(); !s.ReleasedUntil.Equal(t0.Add(mdi + 1500*time.Millisecond)) {
		t.Fatalf("released until %v", s.ReleasedUntil)
	}
	h.clock.WaitArmed(t, t0.Add(mdi+time.Second))
	h.clock.Advance(time.Second)
	if p := tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("advert %+v", p)
	}
	h.clock.WaitArmed(t, t0.Add(mdi+1500*time.Millisecond))
	h.clock.Advance(500 * time.Millisecond)
	if p := tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert when the release ended %+v, want 100", p)
	}
	h.waitSnapshot(t, "not released", func(s Snapshot) bool { return !s.Released })
	h.wantState(t, StateMaster)
}

// After Run returned, a request's channel is closed at once.
func TestInstanceReleaseAfterRun(t *testing.T) {
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)
	h.shutdown(t)
	waitApplied(t, h.inst.StepDown(0, ""))
	waitApplied(t, h.inst.Ready())
}

// A master that gave way (not released) stops announcing; when the new
// master leaves before announcing and this one is MASTER again, it tells
// the owner to announce again before it acquires.
func TestInstanceMasterAgainResumesAnnouncing(t *testing.T) {
	tr := newFakeTransport(local)
	owner := &announcingOwner{fakeOwner: newFakeOwner()}
	h := startInstanceWith(t, testConfig(), tr, owner)
	const mdi = 3609375 * time.Microsecond
	h.becomeMaster(t, mdi)
	tr.inject(t, advertBytes(t, higher, 150, time.Second), higher, MulticastIPv4, 255)
	if c := owner.next(t); c != "quiet" {
		t.Fatalf("owner call %q, want quiet", c)
	}
	h.waitSnapshot(t, "BACKUP", func(s Snapshot) bool { return s.State == StateBackup })
	// The new master stops (priority 0) before it announced: MASTER
	// again after Skew_Time, keeping the VIPs.
	tr.inject(t, advertBytes(t, higher, 0, time.Second), higher, MulticastIPv4, 255)
	h.waitSnapshot(t, "priority 0 heard", func(s Snapshot) bool { return s.Counters.AdvertsReceived >= 2 })
	h.clock.Advance(time.Second)
	for _, want := range []string{"resume", "acquire"} {
		if c := owner.next(t); c != want {
			t.Fatalf("owner call %q, want %s", c, want)
		}
	}
	h.waitSnapshot(t, "MASTER", func(s Snapshot) bool { return s.State == StateMaster })
}

// After a hand-over that ended in a Release, becoming MASTER again still
// resumes the owner's announcements before acquiring: the worker may have
// merged that Release away (nothing was held yet), leaving the owner
// quiet.
func TestInstanceResumesAfterReleaseToo(t *testing.T) {
	tr := newFakeTransport(local)
	owner := &announcingOwner{fakeOwner: newFakeOwner()}
	h := startInstanceWith(t, testConfig(), tr, owner)
	const mdi = 3609375 * time.Microsecond
	h.becomeMaster(t, mdi)
	tr.inject(t, advertBytes(t, higher, 150, time.Second), higher, MulticastIPv4, 255)
	if c := owner.next(t); c != "quiet" {
		t.Fatalf("owner call %q, want quiet", c)
	}
	owner.announce(t, vip.Addr())
	if c := owner.next(t); c != "release" {
		t.Fatalf("owner call %q, want release", c)
	}
	tr.inject(t, advertBytes(t, higher, 0, time.Second), higher, MulticastIPv4, 255)
	h.waitSnapshot(t, "priority 0 heard", func(s Snapshot) bool { return s.Counters.AdvertsReceived >= 2 })
	h.clock.Advance(time.Second)
	for _, want := range []string{"resume", "acquire"} {
		if c := owner.next(t); c != want {
			t.Fatalf("owner call %q, want %s", c, want)
		}
	}
}
