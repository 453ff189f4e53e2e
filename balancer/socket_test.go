package balancer

import (
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestFromRawSockaddr(t *testing.T) {
	var v4 unix.RawSockaddrAny
	in4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&v4))
	in4.Family = unix.AF_INET
	*(*[2]byte)(unsafe.Pointer(&in4.Port)) = [2]byte{0x1f, 0x90} // 8080, network order
	in4.Addr = [4]byte{10, 88, 0, 50}
	var v6 unix.RawSockaddrAny
	in6 := (*unix.RawSockaddrInet6)(unsafe.Pointer(&v6))
	in6.Family = unix.AF_INET6
	*(*[2]byte)(unsafe.Pointer(&in6.Port)) = [2]byte{0x00, 0x01}
	in6.Addr = netip.MustParseAddr("::ffff:192.0.2.7").As16()
	var unixFam unix.RawSockaddrAny
	unixFam.Addr.Family = unix.AF_UNIX
	for _, tc := range []struct {
		name string
		rsa  *unix.RawSockaddrAny
		n    uint32
		want netip.AddrPort
	}{
		{"ipv4", &v4, unix.SizeofSockaddrInet4, netip.MustParseAddrPort("10.88.0.50:8080")},
		{"ipv4 short", &v4, unix.SizeofSockaddrInet4 - 1, netip.AddrPort{}},
		{"ipv6 mapped", &v6, unix.SizeofSockaddrInet6, netip.MustParseAddrPort("192.0.2.7:1")},
		{"ipv6 short", &v6, unix.SizeofSockaddrInet4, netip.AddrPort{}},
		{"other family", &unixFam, unix.SizeofSockaddrAny, netip.AddrPort{}},
	} {
		if got := fromRawSockaddr(tc.rsa, tc.n); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
