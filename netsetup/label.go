package netsetup

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// AddrProto is the address protocol (IFA_PROTO, Linux >= 6.3) rmqlb sets on
// every address it adds (iproute2 >= 6.3 prints the address protocol).
// Values 0..3 belong to the kernel (unspec, kernel_lo, kernel_ra,
// kernel_ll); 114 is ASCII 'r'. Kernels before 6.3 ignore the attribute and
// report no protocol.
const AddrProto = 114

// addrLabel returns the IPv4 address label that marks addresses of the given
// interface carrying tag: "ifname:tag" cut to IFNAMSIZ-1 (15) bytes. ok is
// false when the interface name leaves no room for at least one byte of the
// tag (names of 14 or 15 bytes); such addresses are then marked by AddrProto
// alone.
func addrLabel(ifname, tag string) (label string, ok bool) {
	if tag == "" || len(ifname)+2 > maxLabelLen {
		return "", false
	}
	l := ifname + ":" + tag
	if len(l) > maxLabelLen {
		l = l[:maxLabelLen]
	}
	return l, true
}

// Marker says how a VIPSet recognises an address it added, which decides
// what Release and the stale clean-up may remove.
type Marker string

const (
	// MarkerLabelProto: IPv4 with room for the label, on Linux >= 6.3.
	MarkerLabelProto Marker = "label+protocol"
	// MarkerLabel: IPv4 with room for the label, on Linux before 6.3.
	MarkerLabel Marker = "label"
	// MarkerProto: IPv6, or an interface name too long for a label
	// (14-15 bytes), on Linux >= 6.3.
	MarkerProto Marker = "protocol"
	// MarkerBookkeeping: IPv6 or a name too long for a label on Linux
	// before 6.3. The address carries no marker: the VIPSet removes what
	// it added by its own bookkeeping, and a daemon that was killed
	// leaves it behind (the stale clean-up cannot recognise it).
	MarkerBookkeeping Marker = "bookkeeping"
)

// markerFor returns how an address p on ifname, tagged with tag, is
// recognised, with or without kernel support for IFA_PROTO.
func markerFor(p netip.Prefix, ifname, tag string, proto bool) Marker {
	_, label := addrLabel(ifname, tag)
	label = label && p.Addr().Is4()
	switch {
	case label && proto:
		return MarkerLabelProto
	case label:
		return MarkerLabel
	case proto:
		return MarkerProto
	default:
		return MarkerBookkeeping
	}
}

// kernelAddrProto reports whether the running kernel keeps the address
// protocol (IFA_PROTO, Linux 6.3 and later), from uname(2). Older kernels
// ignore the attribute, and a dump never reports it.
func kernelAddrProto() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	return releaseAtLeast(unix.ByteSliceToString(u.Release[:]), 6, 3)
}

// releaseAtLeast reports whether a kernel release string such as
// "6.1.0-18-amd64" is at least major.minor; false if it does not parse.
func releaseAtLeast(release string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(release, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// addrInfo is one address as the kernel reports it in an RTM_NEWADDR dump.
type addrInfo struct {
	linkIndex int
	prefix    prefix
	label     string // IFA_LABEL; IPv4 only, the interface name when none was given
	proto     uint8  // IFA_PROTO; 0 when absent
}

// isOurs reports whether an address of interface ifname carries the marker
// of tag. The rule is conservative: an address is only ours when every
// marker the kernel can carry for it says so.
//
//   - A protocol other than 0 and AddrProto means another program added it:
//     never ours.
//   - IPv4 with room for a label: the label must be exactly
//     addrLabel(ifname, tag). (The protocol is 0 on kernels before 6.3.)
//   - IPv4 on an interface whose name is too long for a label, and IPv6
//     (which has no labels): the protocol must be AddrProto, so these are
//     only recognised on Linux >= 6.3. On older kernels such a stale address
//     is left alone rather than risking someone else's.
func isOurs(a addrInfo, ifname, tag string) bool {
	if a.proto != 0 && a.proto != AddrProto {
		return false
	}
	if a.prefix.Addr().Is4() {
		if want, ok := addrLabel(ifname, tag); ok {
			return a.label == want
		}
		return a.proto == AddrProto && a.label == ifname
	}
	return a.proto == AddrProto
}
