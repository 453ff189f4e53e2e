package vrrp

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// announcingOwner is a fakeOwner that reports announcements: the test
// announces through what Run registered.
type announcingOwner struct {
	*fakeOwner
	announcements registered[announcement]
}

// startAnnouncingMaster runs an instance of testConfig on tr with an
// owner that reports announcements, and makes it MASTER (becomeMaster,
// its master down interval 3609375 us from t0).
func startAnnouncingMaster(t *testing.T, tr *fakeTransport) (*instanceHarness, *announcingOwner) {
	t.Helper()
	owner := &announcingOwner{fakeOwner: newFakeOwner()}
	h := startInstanceWith(t, testConfig(), tr, owner)
	h.becomeMaster(t, 3609375*time.Microsecond)
	return h, owner
}

// announcement is one report of an AnnounceReporter.
type announcement struct {
	addr netip.Addr
	own  bool
}

func (o *announcingOwner) ReportAnnouncements(report func(netip.Addr, bool)) {
	o.announcements.set(func(a announcement) { report(a.addr, a.own) })
}

// StopAnnouncing and ResumeAnnouncing are recorded as the owner calls
// "quiet" and "resume".
func (o *announcingOwner) StopAnnouncing()   { o.calls <- "quiet" }
func (o *announcingOwner) ResumeAnnouncing() { o.calls <- "resume" }

// announce reports that another host announced a.
func (o *announcingOwner) announce(t *testing.T, a netip.Addr) {
	t.Helper()
	o.announcements.call(t, announcement{addr: a})
}

// announceOwn reports that the owner announced a itself.
func (o *announcingOwner) announceOwn(t *testing.T, a netip.Addr) {
	t.Helper()
	o.announcements.call(t, announcement{addr: a, own: true})
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
	h, owner := startAnnouncingMaster(t, tr)
	const mdi = 3609375 * time.Microsecond
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
	// Ready is logged as asked for, not as a period that ran out; the
	// release, with no period, as lasting until ready. A Ready of an
	// instance not released is logged as such.
	waitApplied(t, h.inst.Ready())
	readies := h.logs.FilterMessage("VRRP instance ready").All()
	if m := len(h.logs.FilterMessage("VRRP instance release ended").All()); len(readies) != 2 || m != 0 {
		t.Fatalf("%d log lines of ready, %d of a release that ran out; want 2 and 0", len(readies), m)
	}
	if a, b := readies[0].ContextMap()["was_released"], readies[1].ContextMap()["was_released"]; a != true || b != false {
		t.Errorf("ready logged with was_released %v, then %v; want true, then false", a, b)
	}
	released := h.logs.FilterMessage("VRRP instance released").All()
	if len(released) != 1 || released[0].ContextMap()["until"] != "rmqlb vrrp ready" {
		t.Errorf("release logged as %v, want until \"rmqlb vrrp ready\"", released)
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
	h.clock.DropArms()
	waitApplied(t, h.inst.StepDown(1500*time.Millisecond, ""))
	if p := tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("advert %+v", p)
	}
	if s := h.inst.Snapshot(); !s.ReleasedUntil.Equal(t0.Add(mdi + 1500*time.Millisecond)) {
		t.Fatalf("released until %v", s.ReleasedUntil)
	}
	// Having applied the release, the loop arms its timer again for the
	// next advert, from the time it reads then: the time moves once it
	// has (the timer armed before the release has the same deadline).
	h.clock.NextArmWhere(t, func(a clock.Arm) bool { return !a.Context && a.At.Equal(t0.Add(mdi+time.Second)) })
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
	// The journal says until when the release lasts, that it ended, and
	// why.
	if r := h.logs.FilterMessage("VRRP instance released").All(); len(r) != 1 || r[0].ContextMap()["until"] != t0.Add(mdi+1500*time.Millisecond) {
		t.Errorf("release logged as %v, want until the end of its period", r)
	}
	ended := h.logs.FilterMessage("VRRP instance release ended").All()
	if len(ended) != 1 {
		t.Fatalf("%d log lines of the release's end, want 1", len(ended))
	}
	if f := ended[0].ContextMap(); f["reason"] != "its period ran out" || f["state"] != "MASTER" || f["effective_priority"] != uint8(100) {
		t.Fatalf("log line of the release's end: %v", f)
	}
}

// After Run returned, a request's channel is closed at once.
func TestInstanceReleaseAfterRun(t *testing.T) {
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)
	h.shutdown(t)
	waitApplied(t, h.inst.StepDown(0, ""))
	waitApplied(t, h.inst.Ready())
}

// skew100 is the Skew_Time of testConfig's priority 100 at 1 s adverts.
const skew100 = 609375 * time.Microsecond

// A master that gave way (not released) stops announcing; when the new
// master leaves before announcing and this one is MASTER again, it tells
// the owner to announce again before it acquires.
func TestInstanceMasterAgainResumesAnnouncing(t *testing.T) {
	tr := newFakeTransport(local)
	h, owner := startAnnouncingMaster(t, tr)
	const mdi = 3609375 * time.Microsecond
	tr.inject(t, advertBytes(t, higher, 150, time.Second), higher, MulticastIPv4, 255)
	if c := owner.next(t); c != "quiet" {
		t.Fatalf("owner call %q, want quiet", c)
	}
	h.waitSnapshot(t, "BACKUP", func(s Snapshot) bool { return s.State == StateBackup })
	// The new master stops (priority 0) before it announced: MASTER
	// again after Skew_Time, keeping the VIPs.
	tr.inject(t, advertBytes(t, higher, 0, time.Second), higher, MulticastIPv4, 255)
	// Priority 0 heard: the loop waits for Skew_Time (the time moves
	// once it does, not while it reads the time to arm its timer).
	h.clock.WaitArmed(t, t0.Add(mdi+skew100))
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
	h, owner := startAnnouncingMaster(t, tr)
	const mdi = 3609375 * time.Microsecond
	tr.inject(t, advertBytes(t, higher, 150, time.Second), higher, MulticastIPv4, 255)
	if c := owner.next(t); c != "quiet" {
		t.Fatalf("owner call %q, want quiet", c)
	}
	owner.announce(t, vip.Addr())
	if c := owner.next(t); c != "release" {
		t.Fatalf("owner call %q, want release", c)
	}
	tr.inject(t, advertBytes(t, higher, 0, time.Second), higher, MulticastIPv4, 255)
	// Priority 0 heard: the loop waits for Skew_Time (the time moves
	// once it does, not while it reads the time to arm its timer).
	h.clock.WaitArmed(t, t0.Add(mdi+skew100))
	h.clock.Advance(time.Second)
	for _, want := range []string{"resume", "acquire"} {
		if c := owner.next(t); c != want {
			t.Fatalf("owner call %q, want %s", c, want)
		}
	}
}

// A master whose owner announced the VIPs after the new master did (a
// scheduled gratuitous ARP of its own that went out just after the new
// master's) keeps them after the new master's advert until the new
// master announces again: the clients point at this host until then. Both
// reports came before the advert, which sees them whether or not Run has
// turned since.
func TestInstanceOwnAnnouncementAfterPeers(t *testing.T) {
	tr := newFakeTransport(local)
	h, owner := startAnnouncingMaster(t, tr)
	owner.announce(t, vip.Addr())
	owner.announceOwn(t, vip.Addr())
	tr.inject(t, advertBytes(t, higher, 150, time.Second), higher, MulticastIPv4, 255)
	if c := owner.next(t); c != "quiet" {
		t.Fatalf("owner call %q, want quiet", c)
	}
	h.waitSnapshot(t, "BACKUP keeping the VIPs", func(s Snapshot) bool {
		return s.State == StateBackup && s.Handover != nil && strings.Contains(s.Handover.Outcome, "keeping the VIPs")
	})
	owner.noCall(t)
	owner.announce(t, vip.Addr())
	if c := owner.next(t); c != "release" {
		t.Fatalf("owner call %q, want release", c)
	}
	s := h.inst.Snapshot()
	if !s.Handover.Announced || s.Counters.PeerAnnouncements != 2 {
		t.Fatalf("after the handover: handover %+v, counters %+v (want 2 announcements of the peer, ours not counted)", s.Handover, s.Counters)
	}
}

// An announcement of the new master reported before its advert, with none
// of ours after it, lets the VIPs go at the advert: quiet first, then the
// release.
func TestInstancePeerAnnouncedBeforeAdvert(t *testing.T) {
	tr := newFakeTransport(local)
	_, owner := startAnnouncingMaster(t, tr)
	owner.announceOwn(t, vip.Addr())
	owner.announce(t, vip.Addr())
	tr.inject(t, advertBytes(t, higher, 150, time.Second), higher, MulticastIPv4, 255)
	for _, want := range []string{"quiet", "release"} {
		if c := owner.next(t); c != want {
			t.Fatalf("owner call %q, want %s", c, want)
		}
	}
}

// An announcement of our own reported just before the new master's advert
// counts at that advert, even when Run's loop finds both waiting and
// steps the advert first: the machine decides once quiet, after the
// reports made until then (AnnouncingStopped), so the new master's
// earlier announcement, already stepped, no longer lets the VIPs go. The loop is held in OnTransition (on
// becoming MASTER) while the report and the advert arrive; when it turns
// again it picks either first, so the scenario runs several times.
func TestInstanceOwnAnnouncementSteppedBeforeAdvert(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	for run := range 8 {
		tr := newFakeTransport(local)
		owner := &announcingOwner{fakeOwner: newFakeOwner()}
		entered, release := make(chan struct{}, 1), make(chan struct{})
		h := newInstanceHarness(t, testConfig(), tr, owner, func(o *Options) {
			o.OnTransition = func(c StateChange) {
				if c.To == StateMaster {
					entered <- struct{}{}
					<-release
				}
			}
		})
		h.run(t)
		h.clock.WaitArmed(t, t0.Add(mdi))
		// The new master's announcement, stepped half a second before
		// this one becomes MASTER (recent enough to count).
		h.clock.Advance(mdi - 500*time.Millisecond)
		h.clock.DropArms()
		owner.announce(t, vip.Addr())
		// The loop turns once, for the report, and arms its timer
		// again: the time moves once it has (it would move the
		// deadline with it in between).
		h.clock.NextArmWhere(t, func(a clock.Arm) bool { return a.At.Equal(t0.Add(mdi)) })
		h.clock.Advance(500 * time.Millisecond)
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("no transition to MASTER")
		}
		// Held in OnTransition: our announcement, then the advert (the
		// second, a stray one dropped for its TTL, makes sure the
		// reader queued the first).
		owner.announceOwn(t, vip.Addr())
		tr.inject(t, advertBytes(t, higher, 150, time.Second), higher, MulticastIPv4, 255)
		tr.inject(t, advertBytes(t, higher, 150, time.Second), higher, MulticastIPv4, 1)
		close(release)
		h.waitSnapshot(t, "BACKUP", func(s Snapshot) bool { return s.State == StateBackup && s.Handover != nil })
		if s := h.inst.Snapshot(); !s.Handover.Done.IsZero() || !strings.Contains(s.Handover.Outcome, "keeping the VIPs") {
			t.Fatalf("run %d: handover %+v, want the VIPs kept until the new master announces again", run, s.Handover)
		}
		h.shutdown(t)
	}
}

// sendingAsQuietedOwner is an announcingOwner that hears and sends
// announcements as it is told to stop announcing: StopAnnouncing reports
// them before returning, as netsetup.VIPSet does with one of its own
// going out.
type sendingAsQuietedOwner struct {
	*announcingOwner
	t       *testing.T
	reports []announcement
}

func (o *sendingAsQuietedOwner) StopAnnouncing() {
	for _, a := range o.reports {
		o.announcements.call(o.t, a)
	}
	o.announcingOwner.StopAnnouncing()
}

// A master that heard the new master's announcement before its advert,
// and whose own scheduled announcement went out as it stopped announcing
// (after the new master's), keeps the VIPs after the advert until the new
// master announces again.
func TestInstanceOwnAnnouncementAsItStops(t *testing.T) {
	tr := newFakeTransport(local)
	owner := &sendingAsQuietedOwner{announcingOwner: &announcingOwner{fakeOwner: newFakeOwner()}, t: t,
		reports: []announcement{{addr: vip.Addr(), own: true}}}
	h := startInstanceWith(t, testConfig(), tr, owner)
	const mdi = 3609375 * time.Microsecond
	h.becomeMaster(t, mdi)
	owner.announce(t, vip.Addr())
	if err := h.inst.Alive(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr.inject(t, advertBytes(t, higher, 150, time.Second), higher, MulticastIPv4, 255)
	if c := owner.next(t); c != "quiet" {
		t.Fatalf("owner call %q, want quiet", c)
	}
	h.waitSnapshot(t, "BACKUP", func(s Snapshot) bool { return s.State == StateBackup && s.Handover != nil })
	if err := h.inst.Alive(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := h.inst.Snapshot(); !s.Handover.Done.IsZero() || !strings.Contains(s.Handover.Outcome, "keeping the VIPs") {
		t.Fatalf("handover %+v, want the VIPs kept until the new master announces again", s.Handover)
	}
	owner.noCall(t)
	owner.announce(t, vip.Addr())
	if c := owner.next(t); c != "release" {
		t.Fatalf("owner call %q, want release", c)
	}
}

// With two VIPs, a batch of reports in which the new master announced one
// after ours and we announced the other after the new master's earlier
// announcement of it does not end the handover, whatever order the batch
// is stepped in: the VIP we announced last still waits for the new
// master. (Reported inside StopAnnouncing, as the VIP set does when its
// own announcement of the second VIP goes out then.) The scenario runs
// several times, the batch being a map.
func TestInstanceOwnAnnouncementOfOneVIPInBatch(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	vip2 := netip.MustParsePrefix("10.99.0.101/24")
	cfg := testConfig(func(c *Config) { c.VIPs = append(c.VIPs, vip2) })
	p := Packet{Version: 3, VRID: 7, Priority: 150, AdvertInterval: time.Second, Addrs: []netip.Addr{vip.Addr(), vip2.Addr()}}
	advert, err := p.Marshal(higher, MulticastIPv4, ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}
	for run := range 8 {
		tr := newFakeTransport(local)
		owner := &sendingAsQuietedOwner{announcingOwner: &announcingOwner{fakeOwner: newFakeOwner()}, t: t,
			reports: []announcement{{addr: vip.Addr()}, {addr: vip2.Addr(), own: true}}}
		h := startInstanceWith(t, cfg, tr, owner)
		h.becomeMaster(t, mdi)
		owner.announce(t, vip.Addr())
		owner.announce(t, vip2.Addr())
		if err := h.inst.Alive(context.Background()); err != nil {
			t.Fatal(err)
		}
		tr.inject(t, advert, higher, MulticastIPv4, 255)
		if c := owner.next(t); c != "quiet" {
			t.Fatalf("run %d: owner call %q, want quiet", run, c)
		}
		h.waitSnapshot(t, "BACKUP", func(s Snapshot) bool { return s.State == StateBackup && s.Handover != nil })
		if err := h.inst.Alive(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s := h.inst.Snapshot(); !s.Handover.Done.IsZero() || !strings.Contains(s.Handover.Outcome, "keeping the VIPs") {
			t.Fatalf("run %d: handover %+v, want the VIPs kept until the new master announces %v again", run, s.Handover, vip2.Addr())
		}
		owner.announce(t, vip2.Addr())
		if c := owner.next(t); c != "release" {
			t.Fatalf("run %d: owner call %q, want release", run, c)
		}
		h.shutdown(t)
	}
}
