package netsetup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// prefix is netip.Prefix; the alias keeps addrInfo short.
type prefix = netip.Prefix

// ifaProto is IFA_PROTO from linux/if_addr.h (not in x/sys/unix yet).
const ifaProto = 11

// addAddr adds p to the link with the given index, marked with label (IPv4,
// when non-empty) and, if proto, AddrProto (kernels before 6.3 would ignore
// it). IPv6 addresses get IFA_F_NODAD so that they are usable at once, as a
// VIP must be. vishvananda/netlink v1.3.1's Addr has no field for IFA_PROTO,
// hence the hand-built request (same attributes as netlink.AddrAdd
// otherwise, without a broadcast address, like `ip addr add`).
func addAddr(ifindex int, p netip.Prefix, label string, proto bool) error {
	family := unix.AF_INET6
	if p.Addr().Is4() {
		family = unix.AF_INET
	}
	req := nl.NewNetlinkRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	msg := nl.NewIfAddrmsg(family)
	msg.Index = uint32(ifindex)
	msg.Prefixlen = uint8(p.Bits())
	if family == unix.AF_INET6 {
		msg.Flags = unix.IFA_F_NODAD
	}
	req.AddData(msg)
	ip := p.Addr().AsSlice()
	req.AddData(nl.NewRtAttr(unix.IFA_LOCAL, ip))
	req.AddData(nl.NewRtAttr(unix.IFA_ADDRESS, ip))
	if family == unix.AF_INET && label != "" {
		req.AddData(nl.NewRtAttr(unix.IFA_LABEL, nl.ZeroTerminated(label)))
	}
	if proto {
		req.AddData(nl.NewRtAttr(ifaProto, nl.Uint8Attr(AddrProto)))
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// delAddr removes p from the link with the given index. For IPv4 with a
// non-empty label the kernel only deletes an address carrying that label
// (inet_rtm_deladdr compares IFA_LABEL), so a same address someone else
// added without our label survives.
func delAddr(ifindex int, p netip.Prefix, label string) error {
	a := &netlink.Addr{
		IPNet:     &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		LinkIndex: ifindex,
	}
	if p.Addr().Is4() {
		a.Label = label
		a.Broadcast = net.IPv4zero // no IFA_BROADCAST in the request
	}
	return netlink.AddrDel(nil, a)
}

// listAddrs dumps the addresses of one link (ifindex > 0) or of all links
// (ifindex 0), with label and protocol. A dump interrupted by a concurrent
// change is retried a few times.
func listAddrs(ifindex int) ([]addrInfo, error) {
	var err error
	for range 5 {
		var msgs [][]byte
		req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
		req.AddData(nl.NewIfAddrmsg(unix.AF_UNSPEC))
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR)
		if errors.Is(err, nl.ErrDumpInterrupted) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var out []addrInfo
		for _, m := range msgs {
			a, ok := parseAddrMsg(m)
			if ok && (ifindex == 0 || a.linkIndex == ifindex) {
				out = append(out, a)
			}
		}
		return out, nil
	}
	return nil, err
}

// parseAddrMsg decodes one RTM_NEWADDR message body: struct ifaddrmsg
// (family u8, prefixlen u8, flags u8, scope u8, index u32, host byte order)
// followed by rtattrs. ok is false for messages that are malformed or carry
// no usable address. It never panics on any input (nl.ParseRouteAttr does
// on some malformed ones, hence our own loop).
func parseAddrMsg(m []byte) (a addrInfo, ok bool) {
	if len(m) < unix.SizeofIfAddrmsg {
		return a, false
	}
	prefixlen := int(m[1])
	a.linkIndex = int(binary.NativeEndian.Uint32(m[4:8]))
	var local, address []byte
	for b := m[unix.SizeofIfAddrmsg:]; len(b) >= unix.SizeofRtAttr; {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofRtAttr || l > len(b) {
			return a, false
		}
		v := b[unix.SizeofRtAttr:l]
		switch typ {
		case unix.IFA_LOCAL:
			local = v
		case unix.IFA_ADDRESS:
			address = v
		case unix.IFA_LABEL:
			a.label = string(bytes.TrimRight(v, "\x00"))
		case ifaProto:
			if len(v) >= 1 {
				a.proto = v[0]
			}
		}
		next := (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	raw := local // IPv4: IFA_LOCAL is our address, IFA_ADDRESS the peer
	if raw == nil {
		raw = address // IPv6 without a peer sends only IFA_ADDRESS
	}
	ip, ok := netip.AddrFromSlice(raw)
	if !ok {
		return a, false
	}
	ip = ip.Unmap()
	if prefixlen > ip.BitLen() {
		return a, false
	}
	a.prefix = netip.PrefixFrom(ip, prefixlen)
	return a, true
}

// isErrno reports whether err is one of the errnos.
func isErrno(err error, errnos ...unix.Errno) bool {
	for _, e := range errnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// linkByName resolves an interface name with a useful error.
func linkByName(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("looking up interface %s: %w", name, err)
	}
	return l, nil
}
