package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
)

// Transport sends and receives VRRP messages (IP payloads of protocol 112).
// Instance uses it; tests substitute a fake. Implementations must allow
// ReadFrom in one goroutine concurrently with WriteTo in another, and
// Close must make a blocked ReadFrom return an error.
type Transport interface {
	// Source returns the primary address adverts are sent from; it is the
	// IP source address and part of the checksum pseudo-header.
	Source() netip.Addr
	// Destinations returns where adverts are sent: the multicast group, or
	// the unicast peers.
	Destinations() []netip.Addr
	// WriteTo sends one VRRP message to dst with TTL 255.
	WriteTo(payload []byte, dst netip.Addr) error
	// ReadFrom reads one VRRP message into b and returns its length and
	// the IP header fields needed to check it.
	ReadFrom(b []byte) (int, RecvInfo, error)
	// Close releases the transport.
	Close() error
}

// RecvInfo is what a Transport tells about a received message.
type RecvInfo struct {
	// Src and Dst are the IP source and destination addresses.
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL (IPv6 hop limit); CheckTTL wants 255.
	TTL int
}

// tosInternetControl is the TOS keepalived sends adverts with (precedence 6,
// internetwork control).
const tosInternetControl = 0xc0

// IPv4Transport is the real Transport: a raw IPv4 socket for protocol 112
// bound to one interface, with IP_HDRINCL so that the source address and
// TTL are ours. In multicast mode it joins 224.0.0.18 on the interface and
// turns multicast loopback off so that it does not receive its own adverts.
//
// It is safe for one reader and concurrent writers.
type IPv4Transport struct {
	rc    *ipv4.RawConn
	ifi   *net.Interface
	src   netip.Addr
	dests []netip.Addr
}

// TransportConfig configures NewIPv4Transport.
type TransportConfig struct {
	// Interface is the interface name. Required.
	Interface string
	// Source is the source address of adverts. The zero value means the
	// first IPv4 address of Interface not in Exclude.
	Source netip.Addr
	// Peers are the unicast peers; empty means multicast to 224.0.0.18.
	Peers []netip.Addr
	// Exclude are addresses never picked as Source (the VIPs, which come
	// and go).
	Exclude []netip.Addr
}

// NewIPv4Transport opens the raw socket described by cfg. It needs
// CAP_NET_RAW (root) and an existing interface.
func NewIPv4Transport(cfg TransportConfig) (*IPv4Transport, error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("opening VRRP transport: %w", err)
	}
	src := cfg.Source.Unmap()
	if !src.IsValid() {
		if src, err = primaryIPv4(ifi, cfg.Exclude); err != nil {
			return nil, fmt.Errorf("opening VRRP transport on %s: %w", ifi.Name, err)
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, ifi.Name)
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "ip4:112", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("opening VRRP raw socket on %s: %w", ifi.Name, err)
	}
	rc, err := ipv4.NewRawConn(pc)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("opening VRRP raw socket on %s: %w", ifi.Name, err)
	}
	t := &IPv4Transport{rc: rc, ifi: ifi, src: src}
	if len(cfg.Peers) > 0 {
		for _, p := range cfg.Peers {
			t.dests = append(t.dests, p.Unmap())
		}
	} else {
		t.dests = []netip.Addr{MulticastIPv4}
		group := &net.IPAddr{IP: net.IP(MulticastIPv4.AsSlice())}
		for _, step := range []struct {
			what string
			err  func() error
		}{
			{"setting multicast interface", func() error { return rc.SetMulticastInterface(ifi) }},
			{"turning multicast loopback off", func() error { return rc.SetMulticastLoopback(false) }},
			{"setting multicast TTL", func() error { return rc.SetMulticastTTL(TTL) }},
			{"joining 224.0.0.18", func() error { return rc.JoinGroup(ifi, group) }},
		} {
			if err := step.err(); err != nil {
				rc.Close()
				return nil, fmt.Errorf("%s on %s: %w", step.what, ifi.Name, err)
			}
		}
	}
	return t, nil
}

// primaryIPv4 returns the first IPv4 address of ifi that is not excluded.
func primaryIPv4(ifi *net.Interface, exclude []netip.Addr) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("listing addresses: %w", err)
	}
next:
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok || !ip.Unmap().Is4() {
			continue
		}
		ip = ip.Unmap()
		for _, x := range exclude {
			if x.Unmap() == ip {
				continue next
			}
		}
		return ip, nil
	}
	return netip.Addr{}, errors.New("no IPv4 address to send VRRP adverts from (set unicast_src)")
}

// Source implements Transport.
func (t *IPv4Transport) Source() netip.Addr { return t.src }

// Destinations implements Transport.
func (t *IPv4Transport) Destinations() []netip.Addr { return append([]netip.Addr(nil), t.dests...) }

// WriteTo implements Transport: it sends payload in an IPv4 packet with TTL
// 255, TOS 0xc0 and our source address; the kernel fills in the ID and
// header checksum.
func (t *IPv4Transport) WriteTo(payload []byte, dst netip.Addr) error {
	h := &ipv4.Header{
		Version:  ipv4.Version,
		Len:      ipv4.HeaderLen,
		TOS:      tosInternetControl,
		TotalLen: ipv4.HeaderLen + len(payload),
		TTL:      TTL,
		Protocol: ProtocolNumber,
		Src:      net.IP(t.src.AsSlice()),
		Dst:      net.IP(dst.Unmap().AsSlice()),
	}
	if err := t.rc.WriteTo(h, payload, nil); err != nil {
		return fmt.Errorf("sending VRRP advert to %v: %w", dst, err)
	}
	return nil
}

// ReadFrom implements Transport. b should hold at least 1500 bytes: it
// receives the IP header too, and the payload is moved to its start.
func (t *IPv4Transport) ReadFrom(b []byte) (int, RecvInfo, error) {
	h, p, _, err := t.rc.ReadFrom(b)
	if err != nil {
		return 0, RecvInfo{}, fmt.Errorf("receiving VRRP advert: %w", err)
	}
	var ri RecvInfo
	ri.TTL = h.TTL
	if a, ok := netip.AddrFromSlice(h.Src); ok {
		ri.Src = a.Unmap()
	}
	if a, ok := netip.AddrFromSlice(h.Dst); ok {
		ri.Dst = a.Unmap()
	}
	n := copy(b, p)
	return n, ri, nil
}

// Close implements Transport.
func (t *IPv4Transport) Close() error { return t.rc.Close() }
