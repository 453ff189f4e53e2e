package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
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
// Rebind moves it to the interface of the same name after that was deleted
// and created again; Reconfigure changes its source and its peers.
//
// It is safe for one reader and concurrent writers; Rebind and
// Reconfigure may run concurrently with both, not with each other.
type IPv4Transport struct {
	pc net.PacketConn // the raw socket rc wraps
	rc *ipv4.RawConn

	mu    sync.RWMutex // guards the fields below, which Rebind and Reconfigure change
	cfg   TransportConfig
	dests []netip.Addr
	ifi   *net.Interface
	src   netip.Addr
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
		return bindToDevice(c, ifi.Name)
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
	cfg.Peers = slices.Clone(cfg.Peers)
	cfg.Exclude = slices.Clone(cfg.Exclude)
	t := &IPv4Transport{cfg: cfg, pc: pc, rc: rc, ifi: ifi, src: src}
	if len(cfg.Peers) > 0 {
		for _, p := range cfg.Peers {
			t.dests = append(t.dests, p.Unmap())
		}
		return t, nil
	}
	t.dests = []netip.Addr{MulticastIPv4}
	if err := joinMulticast(rc, ifi); err != nil {
		rc.Close()
		return nil, err
	}
	return t, nil
}

// joinMulticast sets rc up for multicast mode on ifi: sent from ifi,
// without loopback, TTL 255, member of 224.0.0.18.
func joinMulticast(rc *ipv4.RawConn, ifi *net.Interface) error {
	for _, step := range []struct {
		what string
		err  func() error
	}{
		{"setting multicast interface", func() error { return rc.SetMulticastInterface(ifi) }},
		{"turning multicast loopback off", func() error { return rc.SetMulticastLoopback(false) }},
		{"setting multicast TTL", func() error { return rc.SetMulticastTTL(TTL) }},
		{"joining 224.0.0.18", func() error { return rc.JoinGroup(ifi, multicastGroup) }},
	} {
		if err := step.err(); err != nil {
			return fmt.Errorf("%s on %s: %w", step.what, ifi.Name, err)
		}
	}
	return nil
}

// Reconfigure gives the transport a new source address, new unicast peers
// and new excluded addresses (cfg.Interface must be the same): with
// cfg.Source zero the source is picked again from the interface (the
// current one is kept while it is still valid), and a change between
// multicast (no peers) and unicast mode leaves or joins 224.0.0.18. On
// error nothing changed. Call it from a goroutine in the transport's
// network namespace.
func (t *IPv4Transport) Reconfigure(cfg TransportConfig) error {
	t.mu.RLock()
	old, ifi, src := t.cfg, t.ifi, t.src
	t.mu.RUnlock()
	if cfg.Interface != old.Interface {
		return fmt.Errorf("reconfiguring VRRP transport: interface %s, not %s", cfg.Interface, old.Interface)
	}
	switch {
	case cfg.Source.IsValid():
		src = cfg.Source.Unmap()
	case old.Source.IsValid() || slices.Contains(cfg.Exclude, src):
		var err error
		if src, err = primaryIPv4(ifi, cfg.Exclude); err != nil {
			return fmt.Errorf("reconfiguring VRRP transport on %s: %w", ifi.Name, err)
		}
	}
	dests := []netip.Addr{MulticastIPv4}
	switch {
	case len(cfg.Peers) > 0:
		dests = dests[:0]
		for _, p := range cfg.Peers {
			dests = append(dests, p.Unmap())
		}
		if len(old.Peers) == 0 {
			// Adverts of the group come to our address now.
			_ = t.rc.LeaveGroup(ifi, multicastGroup)
		}
	case len(old.Peers) > 0:
		if err := joinMulticast(t.rc, ifi); err != nil {
			return fmt.Errorf("reconfiguring VRRP transport: %w", err)
		}
	}
	cfg.Peers = slices.Clone(cfg.Peers)
	cfg.Exclude = slices.Clone(cfg.Exclude)
	t.mu.Lock()
	t.cfg, t.src, t.dests = cfg, src, dests
	t.mu.Unlock()
	return nil
}

// multicastGroup is MulticastIPv4 for the socket options.
var multicastGroup = &net.IPAddr{IP: net.IP(MulticastIPv4.AsSlice())}

// bindToDevice sets SO_BINDTODEVICE: the kernel resolves the name to the
// interface index of that moment, in the socket's network namespace.
func bindToDevice(c syscall.RawConn, ifname string) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, ifname)
	}); err != nil {
		return err
	}
	return serr
}

// Index returns the index of the interface the transport is bound to.
func (t *IPv4Transport) Index() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.ifi.Index
}

// Rebind binds the transport to the interface that has its name now, if
// that is another one than it is bound to: the interface was deleted and
// created again (a re-created bond, VLAN or veth) and the socket, bound
// to the old index, neither sends nor receives any more. The socket is
// bound to the new index and, in multicast mode, leaves 224.0.0.18 on the
// old one and joins it on the new one; the source address is picked again
// unless it was configured. It reports whether the binding changed. The
// interface is looked up in the network namespace of the calling thread,
// which must be the one the transport was opened in.
func (t *IPv4Transport) Rebind() (bool, error) {
	t.mu.RLock()
	old, cfg := t.ifi, t.cfg
	t.mu.RUnlock()
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return false, fmt.Errorf("rebinding VRRP transport: %w", err)
	}
	if ifi.Index == old.Index {
		return false, nil
	}
	src := cfg.Source.Unmap()
	if !src.IsValid() {
		if src, err = primaryIPv4(ifi, cfg.Exclude); err != nil {
			return false, fmt.Errorf("rebinding VRRP transport to %s (index %d): %w", ifi.Name, ifi.Index, err)
		}
	}
	sc, err := t.pc.(syscall.Conn).SyscallConn()
	if err == nil {
		err = bindToDevice(sc, ifi.Name)
	}
	if err == nil && len(cfg.Peers) == 0 {
		// The membership on the deleted interface is only bookkeeping
		// of the socket now; dropping it keeps repeated re-creations
		// from using up the socket's memberships.
		_ = t.rc.LeaveGroup(old, multicastGroup)
		err = t.rc.SetMulticastInterface(ifi)
		if err == nil {
			err = t.rc.JoinGroup(ifi, multicastGroup)
		}
	}
	if err != nil {
		return false, fmt.Errorf("rebinding VRRP transport to %s (index %d): %w", ifi.Name, ifi.Index, err)
	}
	t.mu.Lock()
	t.ifi, t.src = ifi, src
	t.mu.Unlock()
	return true, nil
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
func (t *IPv4Transport) Source() netip.Addr {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.src
}

// Destinations implements Transport.
func (t *IPv4Transport) Destinations() []netip.Addr {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return append([]netip.Addr(nil), t.dests...)
}

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
		Src:      net.IP(t.Source().AsSlice()),
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
