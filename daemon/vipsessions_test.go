package daemon

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

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
	o := &releasingOwner{VIPOwner: inner, vips: []netip.Addr{vip}, log: zap.NewNop(),
		listeners: func() []sessionCloser { return []sessionCloser{a, b} }}
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

type announcingOwner struct {
	faultingOwner
	reported, quiet bool
	recheck         time.Duration
}

func (a *announcingOwner) ReportAnnouncements(func(netip.Addr)) { a.reported = true }
func (a *announcingOwner) StopAnnouncing()                      { a.quiet = true }
func (a *announcingOwner) SetRecheck(d time.Duration)           { a.recheck = d }

// TestReleasingOwnerPassesInterfaces: the instance's optional owner
// interfaces reach the real owner through the wrapper (planned hand-overs
// wait for the peer's announcements through them).
func TestReleasingOwnerPassesInterfaces(t *testing.T) {
	inner := &announcingOwner{faultingOwner: faultingOwner{fakeOwner: fakeOwner{f: &fakeVRRP{}}}}
	o := &releasingOwner{VIPOwner: inner, log: zap.NewNop(), listeners: func() []sessionCloser { return nil }}
	var owner vrrp.Owner = o
	owner.(vrrp.AnnounceReporter).ReportAnnouncements(func(netip.Addr) {})
	owner.(vrrp.Quieter).StopAnnouncing()
	owner.(recheckSetter).SetRecheck(time.Second)
	owner.(vrrp.FaultReporter).ReportFaults(func(error) {})
	if !inner.reported || !inner.quiet || inner.recheck != time.Second || !inner.faultingOwner.reported {
		t.Fatalf("passed through: announcements %v, quiet %v, recheck %v, faults %v", inner.reported, inner.quiet, inner.recheck, inner.faultingOwner.reported)
	}
}
