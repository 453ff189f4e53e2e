package integration

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/vrrp"
)

// advertSender sends raw VRRP packets from a lab host with an IP header of
// its own making (so TTL and everything else are the test's choice).
type advertSender struct {
	host *netlab.Host
	conn *ipv4.RawConn
}

func newAdvertSender(t *testing.T, h *netlab.Host) *advertSender {
	t.Helper()
	// The sender host has no multicast route; give it one.
	if out, err := exec.Command("ip", "-n", h.NS, "route", "add", "224.0.0.0/4", "dev", netlab.Iface).CombinedOutput(); err != nil {
		t.Fatalf("adding multicast route on %s: %v: %s", h.Name, err, out)
	}
	var rc *ipv4.RawConn
	err := h.Do(func() error {
		c, err := net.ListenPacket(fmt.Sprintf("ip4:%d", vrrp.ProtocolNumber), h.Addr.String())
		if err != nil {
			return err
		}
		rc, err = ipv4.NewRawConn(c)
		if err != nil {
			c.Close()
			return err
		}
		ifi, err := net.InterfaceByName(netlab.Iface)
		if err != nil {
			return err
		}
		if err := rc.SetMulticastInterface(ifi); err != nil {
			return err
		}
		return rc.SetMulticastLoopback(false)
	})
	if err != nil {
		t.Fatalf("opening raw socket on %s: %v", h.Name, err)
	}
	t.Cleanup(func() { rc.Close() })
	return &advertSender{host: h, conn: rc}
}

func (s *advertSender) send(t *testing.T, dst netip.Addr, ttl int, payload []byte) {
	t.Helper()
	hdr := &ipv4.Header{
		Version: ipv4.Version, Len: ipv4.HeaderLen, TOS: 0xc0,
		TotalLen: ipv4.HeaderLen + len(payload), TTL: ttl, Protocol: vrrp.ProtocolNumber,
		Src: net.IP(s.host.Addr.AsSlice()), Dst: net.IP(dst.AsSlice()),
	}
	if err := s.conn.WriteTo(hdr, payload, nil); err != nil {
		t.Fatalf("sending crafted advert: %v", err)
	}
}

// TestBadInput sends malformed or foreign adverts from h3 (no daemon) to a
// VRRPv2 rmqlb master on h1 with auth PASS (the blog post's setting) and checks
// that each is dropped, counted under its reason in `rmqlb status --json`,
// and changes nothing else. A valid lower-priority advert is sent first and
// must not be dropped, so that the test can tell a drop from deafness.
// A second instance in unicast mode (VRID 2, peer h2) checks that adverts
// from a non-peer are dropped as not_peer.
func TestBadInput(t *testing.T) {
	l := newLab(t)
	h1, h3 := l.Host("h1"), l.Host("h3")
	h2 := l.Host("h2")
	vip2 := netip.MustParsePrefix("10.77.0.101/24")
	d := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{
		{Name: "vip", VRID: 1, Priority: 150, Version: 2, Advert: time.Second, AuthPass: "passwd"},
		{Name: "uni", VRID: 2, Priority: 150, Version: 2, Advert: time.Second, AuthPass: "passwd",
			UnicastPeers: []netip.Addr{h2.Addr}, VIPs: []netip.Prefix{vip2}},
	}})
	if err := d.waitState("MASTER", 6*time.Second); err != nil {
		t.Fatal(err)
	}
	s := newAdvertSender(t, h3)
	good := vrrp.Packet{
		Version: 2, VRID: 1, Priority: 100, AdvertInterval: time.Second,
		AuthType: vrrp.AuthTypeSimple, AuthData: vrrp.SimpleAuthData("passwd"),
		Addrs: []netip.Addr{vip},
	}
	marshal := func(p vrrp.Packet, dst netip.Addr) []byte {
		b, err := p.Marshal(h3.Addr, dst, vrrp.ChecksumPseudoHeader)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mc := vrrp.MulticastIPv4
	const n = 3

	type bad struct {
		name, reason, instance string
		dst                    netip.Addr
		ttl                    int
		payload                []byte
	}
	wrongPass := good
	wrongPass.AuthData = vrrp.SimpleAuthData("guessed")
	wrongVRID := good
	wrongVRID.VRID = 7
	wrongInterval := good
	wrongInterval.AdvertInterval = 2 * time.Second
	badSum := marshal(good, mc)
	badSum[6] ^= 0xff
	wrongVersion := marshal(good, mc)
	wrongVersion[0] = 4<<4 | vrrp.TypeAdvertisement
	uniGood := good
	uniGood.VRID = 2
	uniGood.Addrs = []netip.Addr{vip2.Addr()}
	cases := []bad{
		{"wrong password", vrrp.DropAuth, "vip", mc, 255, marshal(wrongPass, mc)},
		{"wrong TTL", vrrp.DropTTL, "vip", mc, 64, marshal(good, mc)},
		{"wrong VRID", vrrp.DropVRID, "vip", mc, 255, marshal(wrongVRID, mc)},
		{"bad checksum", vrrp.DropChecksum, "vip", mc, 255, badSum},
		{"wrong version", vrrp.DropVersion, "vip", mc, 255, wrongVersion},
		{"truncated", vrrp.DropTruncated, "vip", mc, 255, marshal(good, mc)[:10]},
		{"other interval (v2)", vrrp.DropIntervalMismatch, "vip", mc, 255, marshal(wrongInterval, mc)},
		{"unicast from a non-peer", vrrp.DropNotPeer, "uni", h1.Addr, 255, marshal(uniGood, h1.Addr)},
	}

	// Control: a valid advert of lower priority is received, not dropped.
	before, err := d.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		s.send(t, mc, 255, marshal(good, mc))
	}
	if err := waitFor(2*time.Second, func() (bool, error) {
		in, err := d.instance("vip")
		if err != nil {
			return false, err
		}
		return in.Counters.AdvertsReceived >= before.Counters.AdvertsReceived+n, nil
	}); err != nil {
		t.Fatalf("valid adverts from h3 not received: %v", err)
	}
	after, _ := d.instance("vip")
	if sumDropped(after) != sumDropped(before) {
		t.Fatalf("valid adverts were dropped: before {%s} after {%s}", before.dropped(), after.dropped())
	}

	for _, c := range cases {
		before, err := d.instance(c.instance)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			s.send(t, c.dst, c.ttl, c.payload)
		}
		err = waitFor(2*time.Second, func() (bool, error) {
			in, err := d.instance(c.instance)
			if err != nil {
				return false, err
			}
			return in.Counters.Dropped[c.reason] >= before.Counters.Dropped[c.reason]+n, nil
		})
		after, _ := d.instance(c.instance)
		if err != nil {
			t.Errorf("%s: %s drops %d -> %d, want +%d; all drops {%s}", c.name, c.reason,
				before.Counters.Dropped[c.reason], after.Counters.Dropped[c.reason], n, after.dropped())
			continue
		}
		// Nothing but this reason moved (for the multicast instance; the
		// unicast one also sees the multicast packets).
		if c.instance == "vip" {
			for k, v := range after.Counters.Dropped {
				if k != c.reason && k != vrrp.DropOwn && v != before.Counters.Dropped[k] {
					t.Errorf("%s: reason %s moved too: %d -> %d", c.name, k, before.Counters.Dropped[k], v)
				}
			}
		}
		t.Logf("%-24s dropped as %-18s %d -> %d", c.name, c.reason, before.Counters.Dropped[c.reason], after.Counters.Dropped[c.reason])
	}
	in, err := d.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	if in.State != "MASTER" {
		t.Errorf("state after bad input %s, want MASTER", in.State)
	}
	if ok, _ := h1.HasAddr(vip); !ok {
		t.Errorf("h1 lost the VIP")
	}
	// The human form shows the reasons too.
	out := d.mustStatusText()
	for _, c := range cases {
		if !strings.Contains(out, c.reason) {
			t.Errorf("`rmqlb status` does not show drop reason %q:\n%s", c.reason, out)
		}
	}
}
