package daemon

import (
	"context"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

type closerRec struct{ got [][]netip.Addr }

func (c *closerRec) CloseSessionsTo(a []netip.Addr) int { c.got = append(c.got, a); return 1 }

type faultingOwner struct {
	fakeOwner
	reported bool
}

func (f *faultingOwner) ReportFaults(func(error)) { f.reported = true }

// TestReleasingOwner: every Release of the VIPs closes their sessions on
// every listener, and the owner's fault reports still reach the instance.
func TestReleasingOwner(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.100")
	a, b := &closerRec{}, &closerRec{}
	inner := &faultingOwner{fakeOwner: fakeOwner{f: &fakeVRRP{}}}
	o := newReleasingOwner(inner, []netip.Prefix{netip.PrefixFrom(vip, 32)},
		func() []sessionCloser { return []sessionCloser{a, b} }, zap.NewNop())
	if err := o.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(a.got) != 0 {
		t.Fatal("sessions closed on Acquire")
	}
	if err := o.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if inner.f.released != 1 || len(a.got) != 1 || len(b.got) != 1 || !slices.Equal(a.got[0], []netip.Addr{vip}) {
		t.Fatalf("after Release: released %d, closes %v %v", inner.f.released, a.got, b.got)
	}
	var fr vrrp.FaultReporter = o
	fr.ReportFaults(func(error) {})
	if !inner.reported {
		t.Fatal("fault reports not passed on")
	}
}

// A reload that changes the VIPs changes what a later Release closes (and
// what the hooks are told), and closes the sessions of a removed VIP at
// once.
func TestReleasingOwnerUpdate(t *testing.T) {
	old, kept, added := netip.MustParsePrefix("192.0.2.100/32"), netip.MustParsePrefix("192.0.2.101/32"), netip.MustParsePrefix("192.0.2.102/32")
	rec := &closerRec{}
	o := newReleasingOwner(&fakeOwner{f: &fakeVRRP{}}, []netip.Prefix{old, kept},
		func() []sessionCloser { return []sessionCloser{rec} }, zap.NewNop())
	if err := o.Update(netsetup.VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{kept, added}}); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || !slices.Equal(rec.got[0], []netip.Addr{old.Addr()}) {
		t.Fatalf("Update closed the sessions of %v, want those of the removed %v alone", rec.got, old)
	}
	if got := o.VIPs(); !slices.Equal(got, []netip.Prefix{kept, added}) {
		t.Fatalf("VIPs after Update: %v", got)
	}
	rec.got = nil
	if err := o.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || !slices.Equal(rec.got[0], []netip.Addr{kept.Addr(), added.Addr()}) {
		t.Fatalf("Release after Update closed the sessions of %v, want %v and %v", rec.got, kept, added)
	}
	rec.got = nil
	if err := o.Update(netsetup.VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{kept, added}}); err != nil || len(rec.got) != 0 {
		t.Fatalf("an Update that removes nothing closed %v (err %v)", rec.got, err)
	}
}

type announcingOwner struct {
	faultingOwner
	reported, quiet, adopted bool
	recheck                  time.Duration
	owned                    []netip.Prefix
}

func (a *announcingOwner) ReportAnnouncements(func(netip.Addr, bool)) { a.reported = true }
func (a *announcingOwner) StopAnnouncing()                            { a.quiet = true }
func (a *announcingOwner) ResumeAnnouncing()                          { a.quiet = false }
func (a *announcingOwner) SetRecheck(d time.Duration)                 { a.recheck = d }
func (a *announcingOwner) AdoptHeld(owned []netip.Prefix)             { a.adopted, a.owned = true, owned }

// TestReleasingOwnerPassesInterfaces: the instance's optional owner
// interfaces reach the real owner through the wrapper (planned hand-overs
// wait for the peer's announcements through them).
func TestReleasingOwnerPassesInterfaces(t *testing.T) {
	inner := &announcingOwner{faultingOwner: faultingOwner{fakeOwner: fakeOwner{f: &fakeVRRP{}}}}
	o := newReleasingOwner(inner, nil, func() []sessionCloser { return nil }, zap.NewNop())
	var owner vrrp.Owner = o
	owner.(vrrp.AnnounceReporter).ReportAnnouncements(func(netip.Addr, bool) {})
	owner.(vrrp.Quieter).StopAnnouncing()
	owner.(recheckSetter).SetRecheck(time.Second)
	owner.(vrrp.FaultReporter).ReportFaults(func(error) {})
	owner.(heldAdopter).AdoptHeld(nil)
	if !inner.reported || !inner.quiet || inner.recheck != time.Second || !inner.faultingOwner.reported || !inner.adopted {
		t.Fatalf("passed through: announcements %v, quiet %v, recheck %v, faults %v, adopted %v", inner.reported, inner.quiet, inner.recheck, inner.faultingOwner.reported, inner.adopted)
	}
}

// A MASTER carried on from the process this one succeeds tells its VIP
// owner the VIPs are its own (those without a marker could not be told
// from someone else's); a BACKUP does not.
func TestCarryOnAdoptsHeldVIPs(t *testing.T) {
	for _, st := range []vrrp.State{vrrp.StateMaster, vrrp.StateBackup} {
		inner := &announcingOwner{faultingOwner: faultingOwner{fakeOwner: fakeOwner{f: &fakeVRRP{}}}}
		o := newReleasingOwner(inner, nil, func() []sessionCloser { return nil }, zap.NewNop())
		inst, err := vrrp.NewInstance(vrrp.Config{Name: "v", Interface: "eth0", VRID: 1, Version: 3, Priority: 100,
			AdvertInterval: time.Second, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32")}}, vrrp.Options{Owner: o})
		if err != nil {
			t.Fatal(err)
		}
		owned := []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32")}
		if err := (handedVRRP{State: st, Owned: owned}).carryOn(&vrrpUnit{inst: inst, vips: o}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if inner.adopted != (st == vrrp.StateMaster) || inner.adopted && !slices.Equal(inner.owned, owned) {
			t.Errorf("carried on as %v: VIPs adopted %v (%v)", st, inner.adopted, inner.owned)
		}
	}
}

// A release carried on from the process this one succeeds is kept by the
// state file until the instance has applied it (its snapshot shows it only
// then): with its start, or the hand-over's from a process that did not
// send one, and its end.
func TestCarryOnRelease(t *testing.T) {
	now := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	info := handedVRRPInfo{Name: "v", Interface: "eth0", VRID: 1, Version: 3}
	for _, c := range []struct {
		name   string
		handed handedVRRP
		want   opRelease
	}{
		{"for an hour", handedVRRP{handedVRRPInfo: info, State: vrrp.StateBackup, Released: true, ReleasedFor: time.Hour,
			ReleasedSince: now.Add(-time.Minute), ReleaseReason: "released by the operator for 2h0m0s (rmqlb vrrp release --for)"},
			opRelease{handedVRRPInfo: info, Since: now.Add(-time.Minute), Until: now.Add(time.Hour), Reason: "released by the operator for 2h0m0s (rmqlb vrrp release --for)"}},
		{"until ready, from an older process", handedVRRP{handedVRRPInfo: info, State: vrrp.StateInit, Released: true},
			opRelease{handedVRRPInfo: info, Since: now}},
	} {
		inst, err := vrrp.NewInstance(vrrp.Config{Name: "v", Interface: "eth0", VRID: 1, Version: 3, Priority: 100,
			AdvertInterval: time.Second, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32")}}, vrrp.Options{Owner: &fakeOwner{f: &fakeVRRP{}}})
		if err != nil {
			t.Fatal(err)
		}
		u := &vrrpUnit{inst: inst, vips: &fakeOwner{f: &fakeVRRP{}}}
		if err := c.handed.carryOn(u, now); err != nil {
			t.Fatal(err)
		}
		if r, ok := u.pendingRelease(); !ok || !reflect.DeepEqual(r, c.want) {
			t.Errorf("%s: pending release %+v (%v), want %+v", c.name, r, ok, c.want)
		}
	}
}

// TestReloadMovesVIPBetweenInstances: a reload that moves a VIP from one
// instance to another of this daemon, MASTER, keeps the sessions of that
// VIP (its address is back on the host at once, added by the instance
// taking it), while the sessions of a VIP that leaves the daemon are
// closed.
func TestReloadMovesVIPBetweenInstances(t *testing.T) {
	l := newLab(t)
	w := "  - name: w\n    interface: eth0\n    virtual_router_id: 2\n    version: 3\n    advert_interval: 100ms\n    priority: 100\n    virtual_ipaddress: [WVIPS]\nlisteners:\n"
	file := func(vVIPs, wVIPs string) string {
		return strings.Replace(l.file("virtual_ipaddress: [192.0.2.100/32]", "virtual_ipaddress: ["+vVIPs+"]"),
			"listeners:\n", strings.Replace(w, "WVIPS", wVIPs, 1), 1)
	}
	h := newHarness(t, file("192.0.2.100/32, 192.0.2.101/32, 192.0.2.103/32", "192.0.2.102/32"))
	startTwoMasters(t, h)
	recs := map[string]*closerRec{}
	h.d.mu.Lock()
	for name, u := range h.d.units {
		rec := &closerRec{}
		recs[name] = rec
		u.vips.(*releasingOwner).listeners = func() []sessionCloser { return []sessionCloser{rec} }
	}
	h.d.mu.Unlock()

	// .101 moves from v to w; .103 leaves.
	r := h.reload(file("192.0.2.100/32", "192.0.2.102/32, 192.0.2.101/32"))
	if !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	if got := recs["v"].got; len(got) != 1 || !slices.Equal(got[0], []netip.Addr{netip.MustParseAddr("192.0.2.103")}) {
		t.Errorf("v closed the sessions of %v, want those of 192.0.2.103 alone (192.0.2.101 went to w, MASTER)", got)
	}
	if got := recs["w"].got; len(got) != 0 {
		t.Errorf("w closed the sessions of %v, want none", got)
	}
}
