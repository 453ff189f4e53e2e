package vrrpsoak

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/vrrp"
)

func marshalAdvert(t *testing.T, src, dst netip.Addr) []byte {
	t.Helper()
	p := vrrp.Packet{Version: 3, VRID: 1, Priority: 150, AdvertInterval: 10 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("10.77.0.100")}}
	b, err := p.Marshal(src, dst, vrrp.ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
