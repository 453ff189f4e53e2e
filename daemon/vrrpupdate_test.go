package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/vrrp"
)

// reloadFile writes file and reloads it as the control command does.
func (h *harness) reloadFile(file string) []string {
	h.t.Helper()
	h.write(file)
	r := h.d.Reload()
	if !r.OK() || len(r.Pending) != 0 {
		h.t.Fatalf("reload: %+v", r)
	}
	return r.Applied
}

// peerAdvert injects one advert of another router at prio and lets the
// fake clock run one interval (100 ms) once the instance has read it.
func (h *harness) peerAdvert(f *fakeVRRP, prio uint8) {
	h.t.Helper()
	n := h.vrrpSnapshot().Counters.AdvertsReceived
	f.inject(h.t, prio, 100*time.Millisecond)
	h.eventually("the advert read", func() bool { return h.vrrpSnapshot().Counters.AdvertsReceived > n })
	h.clk.Advance(100 * time.Millisecond)
}

// TestReloadVRRPLive: every setting of a VRRP instance but its identity
// is applied by a reload while it runs: the instance and its VIP owner
// take them, a MASTER advertises the new values at once and stays MASTER,
// and the running model has them (the same file again changes nothing).
func TestReloadVRRPLive(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	f := h.vrrp.get("v")
	transitions := h.vrrpSnapshot().Counters.Transitions
	peer := netip.MustParseAddr("192.0.2.2")
	changed := l.file("advert_interval: 100ms\n    priority: 150\n    virtual_ipaddress: [192.0.2.100/32]",
		`advert_interval: 200ms
    priority: 120
    preempt: false
    preempt_delay: 1s
    v3_checksum: rfc9568
    unicast_src: 192.0.2.1
    unicast_peers: [192.0.2.2]
    allowed_peers: [192.0.2.2]
    max_adopted_advert_interval: 1s
    garp: {count: 2}
    virtual_ipaddress: [192.0.2.100/32, 192.0.2.101/32]`)
	applied := h.reloadFile(changed)
	want := "vrrp instance v updated: priority, advert_interval, preempt, preempt_delay, v3_checksum, unicast_src, unicast_peers, allowed_peers, max_adopted_advert_interval, virtual_ipaddress, garp"
	if !slices.Equal(applied, []string{want}) {
		t.Fatalf("applied %q, want %q", applied, want)
	}
	// The new priority is advertised at once (sent as the settings are
	// applied).
	h.eventually("an advert of the new priority", func() bool { p := f.sentPriorities(); return p[len(p)-1] == 120 })
	s := h.vrrpSnapshot()
	if s.State != vrrp.StateMaster || s.Counters.Transitions != transitions || s.AdvertInterval != 200*time.Millisecond || s.Preempt ||
		s.PreemptDelay != time.Second || s.Checksum != vrrp.ChecksumRFC9568 || s.MaxAdoptedInterval != time.Second || len(s.VIPs) != 2 ||
		!slices.Equal(s.Destinations, []netip.Addr{peer}) || !slices.Equal(s.AllowedPeers, []netip.Addr{peer}) {
		t.Fatalf("instance after the reload: %+v", s)
	}
	f.mu.Lock()
	vips, garp, updates, recheck := f.vips, f.garp, f.updates, f.recheck
	last := f.adverts[len(f.adverts)-1]
	f.mu.Unlock()
	if len(vips) != 2 || garp.Count != 2 || updates != 1 || recheck != vipRecheck(200*time.Millisecond) {
		t.Fatalf("VIP owner after the reload: VIPs %v, garp %+v, %d updates, recheck %v (want the new interval's)", vips, garp, updates, recheck)
	}
	if last.Priority != 120 || last.AdvertInterval != 200*time.Millisecond || len(last.Addrs) != 2 {
		t.Fatalf("advert after the reload: %+v", last)
	}
	if in := h.d.Status(); in.VRRP[0].ConfiguredPriority != 120 {
		t.Fatalf("status: %+v", in.VRRP[0].Snapshot)
	}
	h.write(changed)
	if r := h.d.Reload(); !r.OK() || len(r.Applied) != 0 || len(r.Pending) != 0 {
		t.Fatalf("the same file again: %+v", r)
	}
}

// TestReloadPriorityPreempts: a backup whose priority a reload raises
// above its master's takes over (preempt), with one transition; lowered
// again below a master it hears, it stays as it is until that master's
// adverts say otherwise.
func TestReloadPriorityPreempts(t *testing.T) {
	l := newLab(t)
	file := func(prio string) string { return l.file("priority: 150", "priority: "+prio) }
	h := newHarness(t, file("100"))
	startChecked(t, h)
	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	h.eventually("BACKUP", func() bool { return h.vrrpSnapshot().State == vrrp.StateBackup })
	f := h.vrrp.get("v")
	for range 10 {
		h.peerAdvert(f, 120)
	}
	s := h.vrrpSnapshot()
	if s.State != vrrp.StateBackup || s.Counters.Transitions != 1 {
		t.Fatalf("below a master of 120: %v after %d transitions", s.State, s.Counters.Transitions)
	}
	// 110: still below, nothing moves.
	if a := h.reloadFile(file("110")); !slices.Equal(a, []string{"vrrp instance v updated: priority"}) {
		t.Fatalf("applied %q", a)
	}
	for range 10 {
		h.peerAdvert(f, 120)
	}
	if s := h.vrrpSnapshot(); s.State != vrrp.StateBackup || s.Counters.Transitions != 1 || s.ConfiguredPriority != 110 {
		t.Fatalf("at 110: %v, %d transitions, priority %d", s.State, s.Counters.Transitions, s.ConfiguredPriority)
	}
	// 150: above; the master's adverts are discarded and it preempts.
	h.reloadFile(file("150"))
	for range 10 {
		h.peerAdvert(f, 120)
		if h.vrrpSnapshot().State == vrrp.StateMaster {
			break
		}
	}
	s = h.vrrpSnapshot()
	if s.State != vrrp.StateMaster || s.Counters.Transitions != 2 || !strings.Contains(s.Reason, "preempting lower priority master") {
		t.Fatalf("at 150: %v (%q) after %d transitions", s.State, s.Reason, s.Counters.Transitions)
	}
}

// TestReloadKeepsRelease: a released instance stays released across a
// reload that changes its settings.
func TestReloadKeepsRelease(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	if _, err := h.vrrpCommand("release", "v"); err != nil {
		t.Fatal(err)
	}
	h.reloadFile(l.file("priority: 150", "priority: 120"))
	h.eventually("the new priority", func() bool { return h.vrrpSnapshot().ConfiguredPriority == 120 })
	if s := h.vrrpSnapshot(); !s.Released || s.EffectivePriority != 0 || s.State != vrrp.StateMaster {
		t.Fatalf("after the reload: released %v, effective priority %d, %v", s.Released, s.EffectivePriority, s.State)
	}
	f := h.vrrp.get("v")
	if p := f.sentPriorities(); slices.Contains(p[len(p)-1:], 120) {
		t.Fatalf("a released master advertised its new priority: %v", p)
	}
}

// TestVIPRecheck: the backstop check of the VIPs follows the advert
// interval, but never runs more than once a second: in the VIP owner a
// daemon makes, and after a reload that changes the interval.
func TestVIPRecheck(t *testing.T) {
	for _, c := range []struct{ advert, want time.Duration }{
		{10 * time.Millisecond, time.Second},
		{200 * time.Millisecond, time.Second},
		{time.Second, time.Second},
		{3 * time.Second, 3 * time.Second},
	} {
		if got := vipRecheck(c.advert); got != c.want {
			t.Errorf("vipRecheck(%v) = %v, want %v", c.advert, got, c.want)
		}
		d := &Daemon{}
		if got := d.vipSetOptions(&config.VRRPInstance{Name: "v", AdvertInterval: c.advert}, zap.NewNop(), prometheus.NewRegistry()).Recheck; got != c.want {
			t.Errorf("the VIP owner of an instance at %v: Recheck %v, want %v", c.advert, got, c.want)
		}
	}
	for _, c := range []struct{ old, new, want time.Duration }{
		{100 * time.Millisecond, 2 * time.Second, 2 * time.Second},
		{2 * time.Second, 100 * time.Millisecond, time.Second},
		{3 * time.Second, 2 * time.Second, 2 * time.Second},
	} {
		rec := &recheckRecorder{}
		u := &vrrpUnit{vips: rec}
		err := u.update(VRRPChange{Op: OpUpdate, Name: "v",
			Old: &config.VRRPInstance{Name: "v", AdvertInterval: c.old}, New: &config.VRRPInstance{Name: "v", AdvertInterval: c.new}}, nil)
		if err != nil || rec.recheck != c.want {
			t.Errorf("reload from %v to %v: recheck %v, %v; want %v", c.old, c.new, rec.recheck, err, c.want)
		}
	}
}

// recheckRecorder is a VIP owner that only records SetRecheck (update
// calls nothing else for a change of the advert interval alone).
type recheckRecorder struct {
	VIPOwner
	recheck time.Duration
}

func (r *recheckRecorder) SetRecheck(d time.Duration) { r.recheck = d }
