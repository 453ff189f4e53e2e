package daemon

import (
	"context"
	"net/netip"
	"slices"
	"testing"

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
