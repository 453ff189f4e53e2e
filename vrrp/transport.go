package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/rawio"
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
	// TTL is the IPv4 TTL (IPv6 hop limit); CheckTTL wants 255 (checked
	// in multicast mode only).
	TTL int
}

// tosInternetControl is the TOS keepalived sends adverts with (precedence 6,
// internetwork control).
const tosInternetControl = 0xc0

// IPv4Transport is the real Transport: a raw IPv4 socket for protocol 112
// bound to one interface, which receives, and a send-only raw socket
// (openSendSocket) bound to the same interface, which sends whole IPv4
// packets so that the source address and TTL are ours. In multicast mode
// the receiving socket joins 224.0.0.18 on the interface, and the sending
// one has multicast loopback off so that we do not receive our own
// adverts.
// Rebind moves it to the interface of the same name after that was deleted
// and created again; Reconfigure changes its source and its peers.
//
// It is safe for one reader and concurrent writers; Rebind and
// Reconfigure may run concurrently with both, not with each other. An
// Instance's loop is that reader and waits for the receiving socket
// itself: in the runtime's poller, setting the socket's read deadline
// (pollerConn), or, with a real-time priority, outside it (leavePoller,
// called before its first read, not concurrently with Rebind or
// Reconfigure). ReadFrom is for other readers (the Transport interface,
// tests); after the loop's deadlines it may fail with a timeout.
type IPv4Transport struct {
	snd *os.File        // the send-only socket (openSendSocket)
	ssc syscall.RawConn // snd's, for writes that allocate nothing

	// The write path: WriteTo builds the packet in wbuf and sends it on
	// snd to wsa with writeFn (a method value made once). Guarded by wmu.
	wmu     sync.Mutex
	wbuf    []byte
	wsa     unix.SockaddrInet4
	werr    error
	writeFn func(fd uintptr) bool
	// The read path, owned by the one reader: ReadFrom reads into rbuf
	// with readFn.
	rbuf   []byte
	rn     int
	rerr   error
	readFn func(fd uintptr) bool

	mu sync.RWMutex // guards the fields below, which Rebind, Reconfigure and leavePoller change
	// The receiving socket: pc while it is in the Go runtime's poller
	// (nil after leavePoller), rf after leavePoller; sc is its RawConn,
	// for reads that allocate nothing.
	pc    net.PacketConn
	rf    *os.File
	sc    syscall.RawConn
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

// NewIPv4Transport opens the raw sockets described by cfg. It needs
// CAP_NET_RAW (root) and an existing interface: when the interface does
// not exist, or has no IPv4 address to send from (cfg.Source zero), the
// error matches ErrInterfaceNotReady.
func NewIPv4Transport(cfg TransportConfig) (*IPv4Transport, error) {
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("opening VRRP transport: interface %s: %w", cfg.Interface, noSuchInterface(cfg.Interface, err))
	}
	src := cfg.Source.Unmap()
	if !src.IsValid() {
		if src, err = primaryIPv4(ifi, cfg.Exclude); err != nil {
			if errors.Is(err, errNoIPv4Source) {
				err = notReady{fmt.Sprintf("interface %s has no IPv4 address to send adverts from", ifi.Name), err}
			}
			return nil, fmt.Errorf("opening VRRP transport on %s: %w", ifi.Name, err)
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if err := bindToDevice(c, ifi.Name); err != nil {
			return err
		}
		return ownGroupsOnly(c)
	}}
	pc, err := lc.ListenPacket(context.Background(), "ip4:112", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("opening VRRP raw socket on %s: %w", ifi.Name, goneIfNoDevice(ifi.Name, err))
	}
	sc, err := pc.(syscall.Conn).SyscallConn()
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("opening VRRP raw socket on %s: %w", ifi.Name, err)
	}
	snd, ssc, err := openSendSocket(ifi)
	if err != nil {
		pc.Close()
		return nil, goneIfNoDevice(ifi.Name, err)
	}
	cfg.Peers = slices.Clone(cfg.Peers)
	cfg.Exclude = slices.Clone(cfg.Exclude)
	t := &IPv4Transport{cfg: cfg, pc: pc, sc: sc, snd: snd, ssc: ssc, ifi: ifi, src: src}
	t.writeFn, t.readFn = t.write, t.read
	if len(cfg.Peers) > 0 {
		for _, p := range cfg.Peers {
			t.dests = append(t.dests, p.Unmap())
		}
		return t, nil
	}
	t.dests = []netip.Addr{MulticastIPv4}
	if err := membership(sc, unix.IP_ADD_MEMBERSHIP, ifi); err != nil {
		t.Close()
		return nil, fmt.Errorf("joining 224.0.0.18 on %s: %w", ifi.Name, goneIfNoDevice(ifi.Name, err))
	}
	return t, nil
}

// ErrInterfaceNotReady is matched (errors.Is) by the error of
// NewIPv4Transport when the interface cannot carry adverts yet: it does not
// exist (a bond, VLAN or veth not created yet at boot, or deleted to be
// created again), or it has no IPv4 address to send them from. An
// Instance waits in FAULT for it to become ready; any other error ends
// Run.
var ErrInterfaceNotReady = errors.New("the interface cannot carry VRRP adverts yet")

// notReady wraps the error of an interface that is not ready: its message
// is err's, it matches ErrInterfaceNotReady, and reason says what is
// missing in a few words ("interface eth1 does not exist").
type notReady struct {
	reason string
	err    error
}

func (e notReady) Error() string        { return e.err.Error() }
func (e notReady) Unwrap() error        { return e.err }
func (e notReady) Is(target error) bool { return target == ErrInterfaceNotReady }

// notReadyReason returns the few words of a not-ready error (see
// notReady), or "" for another error.
func notReadyReason(err error) string {
	var nr notReady
	if errors.As(err, &nr) {
		return nr.reason
	}
	return ""
}

// noSuchInterface marks err, of the interface ifname not found, as not
// ready.
func noSuchInterface(ifname string, err error) error {
	return notReady{fmt.Sprintf("interface %s does not exist", ifname), err}
}

// goneIfNoDevice returns err, marked not ready when it is ENODEV: the
// interface ifname was deleted between its look-up and the socket's set-up.
func goneIfNoDevice(ifname string, err error) error {
	if errors.Is(err, unix.ENODEV) {
		return noSuchInterface(ifname, err)
	}
	return err
}

// ownGroupsOnly turns IP_MULTICAST_ALL off on the socket of c, as
// keepalived does: Linux otherwise hands a socket the multicast of every
// group any socket of the host joined on the interface, so an instance in
// unicast mode would hear the group's adverts because another instance
// (or program) joined 224.0.0.18 there.
func ownGroupsOnly(c syscall.RawConn) error {
	if err := setIntOption(c, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); err != nil {
		return fmt.Errorf("turning IP_MULTICAST_ALL off: %w", err)
	}
	return nil
}

// membership joins (op IP_ADD_MEMBERSHIP) or leaves (IP_DROP_MEMBERSHIP)
// 224.0.0.18 on ifi with the socket of c.
func membership(c syscall.RawConn, op int, ifi *net.Interface) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, op,
			&unix.IPMreqn{Multiaddr: MulticastIPv4.As4(), Ifindex: int32(ifi.Index)})
	}); err != nil {
		return err
	}
	return serr
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
	old, ifi, src, sc := t.cfg, t.ifi, t.src, t.sc
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
			_ = membership(sc, unix.IP_DROP_MEMBERSHIP, ifi)
		}
	case len(old.Peers) > 0:
		if err := membership(sc, unix.IP_ADD_MEMBERSHIP, ifi); err != nil {
			return fmt.Errorf("reconfiguring VRRP transport: joining 224.0.0.18 on %s: %w", ifi.Name, err)
		}
	}
	cfg.Peers = slices.Clone(cfg.Peers)
	cfg.Exclude = slices.Clone(cfg.Exclude)
	t.mu.Lock()
	t.cfg, t.src, t.dests = cfg, src, dests
	t.mu.Unlock()
	return nil
}

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
	old, cfg, sc := t.ifi, t.cfg, t.sc
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
	err = bindToDevice(sc, ifi.Name)
	if err == nil {
		err = bindSendSocket(t.ssc, ifi)
	}
	if err == nil && len(cfg.Peers) == 0 {
		// The membership on the deleted interface is only bookkeeping
		// of the socket now; dropping it keeps repeated re-creations
		// from using up the socket's memberships.
		_ = membership(sc, unix.IP_DROP_MEMBERSHIP, old)
		err = membership(sc, unix.IP_ADD_MEMBERSHIP, ifi)
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
	return netip.Addr{}, errNoIPv4Source
}

// errNoIPv4Source is primaryIPv4's error for an interface without an IPv4
// address it may send from.
var errNoIPv4Source = errors.New("no IPv4 address to send VRRP adverts from (set unicast_src)")

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
// 255, TOS 0xc0 (DSCP CS6, network control) and our source address; the
// kernel fills in the ID and header checksum. It allocates nothing once its
// buffer has grown to the packet's size.
func (t *IPv4Transport) WriteTo(payload []byte, dst netip.Addr) error {
	dst = dst.Unmap()
	if !dst.Is4() {
		return fmt.Errorf("sending VRRP advert to %v: not an IPv4 address", dst)
	}
	src := t.Source()
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.wsa.Addr = dst.As4()
	t.wbuf = appendIPv4(t.wbuf[:0], src, dst, payload)
	t.werr = nil
	if err := t.ssc.Write(t.writeFn); err != nil {
		return fmt.Errorf("sending VRRP advert to %v: %w", dst, err)
	}
	if t.werr != nil {
		return fmt.Errorf("sending VRRP advert to %v: %w", dst, t.werr)
	}
	return nil
}

// WriteToWaiting is WriteTo, but when the send buffer is full (EAGAIN)
// it waits for room, at most wait, and sends again: for the advert that
// must not be lost, the priority 0 of a master that stops. The wait is a
// poll(2) of the send socket, which is in no poller; the caller's thread
// blocks in it.
func (t *IPv4Transport) WriteToWaiting(b []byte, dst netip.Addr, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := t.WriteTo(b, dst)
		left := time.Until(deadline)
		if !errors.Is(err, unix.EAGAIN) || left <= 0 {
			return err
		}
		var perr error
		cerr := t.ssc.Control(func(fd uintptr) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			// Rounded up: a wait of 0 ms would return at once.
			_, perr = unix.Poll(fds, int((left+time.Millisecond-1)/time.Millisecond))
		})
		if cerr != nil || (perr != nil && perr != unix.EINTR) {
			return err
		}
	}
}

// appendIPv4 appends to b the IPv4 packet WriteTo sends: version 4, a
// 20-byte header, TOS 0xc0 (DSCP CS6), TTL 255, protocol 112, src and
// dst, then payload. The kernel fills in the ID and the header checksum.
func appendIPv4(b []byte, src, dst netip.Addr, payload []byte) []byte {
	b = slices.Grow(b, ipv4.HeaderLen+len(payload))
	h := b[len(b) : len(b)+ipv4.HeaderLen]
	clear(h)
	h[0] = ipv4.Version<<4 | ipv4.HeaderLen>>2
	h[1] = tosInternetControl
	binary.BigEndian.PutUint16(h[2:4], uint16(ipv4.HeaderLen+len(payload)))
	h[8] = TTL
	h[9] = ProtocolNumber
	s4, d4 := src.As4(), dst.As4()
	copy(h[12:16], s4[:])
	copy(h[16:20], d4[:])
	return append(b[:len(b)+ipv4.HeaderLen], payload...)
}

// write is WriteTo's sendto(2) on the send socket. It never asks to
// wait: nothing polls that socket, and a full send buffer (EAGAIN) fails
// the advert like any other error.
func (t *IPv4Transport) write(fd uintptr) bool {
	t.werr = unix.Sendto(int(fd), t.wbuf, 0, &t.wsa)
	return true
}

// ReadFrom implements Transport. b should hold at least 1500 bytes: it
// receives the IP header too, and the payload is moved to its start. It
// allocates nothing. After leavePoller it does not wait: with nothing to
// read it fails; that reader reads the descriptor leavePoller returned.
func (t *IPv4Transport) ReadFrom(b []byte) (int, RecvInfo, error) {
	t.rbuf, t.rn, t.rerr = b, 0, nil
	err := t.recvConn().Read(t.readFn)
	t.rbuf = nil
	if err == nil {
		err = t.rerr
	}
	if err != nil {
		return 0, RecvInfo{}, fmt.Errorf("receiving VRRP advert: %w", err)
	}
	return unwrapIPv4(b, t.rn)
}

// unwrapIPv4 takes the n bytes of an IPv4 packet a raw socket read into b
// apart: it moves the payload to the start of b and returns its length and
// the header fields Instance checks.
func unwrapIPv4(b []byte, n int) (int, RecvInfo, error) {
	if n < ipv4.HeaderLen || b[0]>>4 != ipv4.Version || int(b[0]&0x0f)<<2 < ipv4.HeaderLen || int(b[0]&0x0f)<<2 > n {
		return 0, RecvInfo{}, fmt.Errorf("receiving VRRP advert: %d bytes: %w", n, errBadIPHeader)
	}
	hl := int(b[0]&0x0f) << 2
	ri := RecvInfo{
		TTL: int(b[8]),
		Src: netip.AddrFrom4([4]byte(b[12:16])),
		Dst: netip.AddrFrom4([4]byte(b[16:20])),
	}
	return copy(b, b[hl:n]), ri, nil
}

// read is ReadFrom's read(2) on the socket; false asks to wait until the
// socket is readable.
func (t *IPv4Transport) read(fd uintptr) bool {
	// The descriptor (the poller's, or leavePoller's copy, made before
	// any read) is non-blocking: a raw read, which leaves the runtime's
	// monitor asleep (see package rawio).
	t.rn, t.rerr = rawio.Read(int(fd), t.rbuf)
	return t.rerr != unix.EAGAIN
}

// errBadIPHeader: the kernel handed over something that is no IPv4
// packet (never seen; the error keeps the reader going on).
var errBadIPHeader = errors.New("not an IPv4 packet")

// recvConn returns the receiving socket's RawConn, which leavePoller
// replaces.
func (t *IPv4Transport) recvConn() syscall.RawConn {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.sc
}

// pollerConn returns the receiving socket and its RawConn while it is in
// the runtime's poller, for a reader that waits with read deadlines; nil
// after leavePoller.
func (t *IPv4Transport) pollerConn() (deadlineWaker, syscall.RawConn) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.pc == nil {
		return nil, nil
	}
	return t.pc, t.sc
}

// sendConn implements rawSocket: the send socket, for an AdvertSender.
func (t *IPv4Transport) sendConn() syscall.RawConn { return t.ssc }

// appendPacket implements rawSocket: WriteTo's packet from the current
// source to dst.
func (t *IPv4Transport) appendPacket(b, payload []byte, dst netip.Addr) []byte {
	return appendIPv4(b, t.Source(), dst.Unmap(), payload)
}

// Close implements Transport: it closes both sockets (an AdvertSender
// holds a reference of its own to the send socket until it stops).
func (t *IPv4Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var err error
	if t.pc != nil {
		err = t.pc.Close()
	} else {
		err = t.rf.Close()
	}
	return errors.Join(err, t.snd.Close())
}

// leavePoller takes the receiving socket out of the Go runtime's poller,
// for a reader that waits for it in the kernel itself (the real-time
// loop, in ppoll(2)) and reads it without blocking. In the poller, every
// advert heard also woke the runtime's thread waiting there, for nothing:
// no goroutine waits for the socket then. The socket stays the same (its
// binding, memberships and queued packets); it is reached through a copy
// of its descriptor that is not in the poller, and the poller's one is
// closed. It returns that copy, which stays valid until Close: the
// reader waits for it and reads it without blocking (ReadFrom no longer
// waits). Call it before any read; on error nothing changed.
func (t *IPv4Transport) leavePoller() (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pc == nil {
		fd := -1
		if err := t.sc.Control(func(f uintptr) { fd = int(f) }); err != nil {
			return -1, fmt.Errorf("taking the VRRP socket out of the poller: %w", err)
		}
		return fd, nil
	}
	// os.NewFile puts a non-blocking descriptor in the poller, a blocking
	// one not. O_NONBLOCK belongs to the open socket, which the copy
	// shares: it is off while the copy is wrapped, and on again after.
	dup, serr := -1, error(nil)
	if err := t.sc.Control(func(fd uintptr) {
		if serr = unix.SetNonblock(int(fd), false); serr != nil {
			return
		}
		if dup, serr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0); serr != nil {
			_ = unix.SetNonblock(int(fd), true)
		}
	}); err != nil || serr != nil {
		return -1, fmt.Errorf("taking the VRRP socket out of the poller: %w", errors.Join(err, serr))
	}
	rf := os.NewFile(uintptr(dup), "vrrp-recv")
	sc, err := rf.SyscallConn()
	if err == nil {
		err = unix.SetNonblock(dup, true)
	}
	if err != nil {
		_ = unix.SetNonblock(dup, true)
		rf.Close()
		return -1, fmt.Errorf("taking the VRRP socket out of the poller: %w", err)
	}
	// Closing pc takes its descriptor out of the poller; the socket
	// lives on in rf.
	_ = t.pc.Close()
	t.pc, t.rf, t.sc = nil, rf, sc
	return dup, nil
}
