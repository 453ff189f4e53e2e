package netsetup

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// addrMsg builds an RTM_NEWADDR body (ifaddrmsg + attributes) in host byte
// order, as the kernel sends it.
func addrMsg(family, prefixlen uint8, index uint32, attrs ...[]byte) []byte {
	b := make([]byte, 8)
	b[0], b[1] = family, prefixlen
	binary.NativeEndian.PutUint32(b[4:], index)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// rtattr builds one netlink attribute, padded to 4 bytes.
func rtattr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestParseAddrMsg(t *testing.T) {
	v4 := []byte{10, 0, 0, 100}
	v6 := netip.MustParseAddr("fd00::100").AsSlice()
	tests := []struct {
		name string
		msg  []byte
		want addrInfo
		ok   bool
	}{
		{
			name: "ipv4 with label and proto",
			msg: addrMsg(unix.AF_INET, 24, 7, rtattr(unix.IFA_ADDRESS, v4), rtattr(unix.IFA_LOCAL, v4),
				rtattr(unix.IFA_LABEL, []byte("eth0:rmqlb\x00")), rtattr(ifaProto, []byte{AddrProto})),
			want: addrInfo{linkIndex: 7, prefix: netip.MustParsePrefix("10.0.0.100/24"), label: "eth0:rmqlb", proto: AddrProto},
			ok:   true,
		},
		{
			name: "ipv4 point to point: local wins",
			msg:  addrMsg(unix.AF_INET, 32, 2, rtattr(unix.IFA_ADDRESS, []byte{10, 0, 0, 1}), rtattr(unix.IFA_LOCAL, v4)),
			want: addrInfo{linkIndex: 2, prefix: netip.MustParsePrefix("10.0.0.100/32")},
			ok:   true,
		},
		{
			name: "ipv6 address only",
			msg:  addrMsg(unix.AF_INET6, 64, 3, rtattr(unix.IFA_ADDRESS, v6), rtattr(ifaProto, []byte{AddrProto})),
			want: addrInfo{linkIndex: 3, prefix: netip.MustParsePrefix("fd00::100/64"), proto: AddrProto},
			ok:   true,
		},
		{name: "short header", msg: []byte{2, 24, 0}},
		{name: "no address", msg: addrMsg(unix.AF_INET, 24, 1)},
		{name: "bad address length", msg: addrMsg(unix.AF_INET, 24, 1, rtattr(unix.IFA_LOCAL, []byte{1, 2, 3}))},
		{name: "prefix too long", msg: addrMsg(unix.AF_INET, 33, 1, rtattr(unix.IFA_LOCAL, v4))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseAddrMsg(tt.msg)
			if ok != tt.ok || (ok && got != tt.want) {
				t.Fatalf("parseAddrMsg = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseAddrMsg(f *testing.F) {
	v4 := []byte{10, 0, 0, 100}
	f.Add(addrMsg(unix.AF_INET, 24, 7, rtattr(unix.IFA_LOCAL, v4), rtattr(unix.IFA_LABEL, []byte("eth0:rmqlb\x00")), rtattr(ifaProto, []byte{AddrProto})))
	f.Add(addrMsg(unix.AF_INET6, 64, 3, rtattr(unix.IFA_ADDRESS, netip.MustParseAddr("fd00::1").AsSlice())))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := parseAddrMsg(b)
		if !ok {
			return
		}
		if !a.prefix.IsValid() || a.prefix.Bits() > a.prefix.Addr().BitLen() {
			t.Fatalf("parseAddrMsg(% x) accepted invalid prefix %v", b, a.prefix)
		}
		// isOurs must be total.
		isOurs(a, "eth0", DefaultLabel)
	})
}
