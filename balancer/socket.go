package balancer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file holds the raw socket calls of the data path. Every fd created
// here is owned by an event loop (or by Run for the listening socket) and is
// never seen by Go's netpoller.

// listenBacklog is passed to listen(2); the kernel caps it at somaxconn.
const listenBacklog = 4096

// toSockaddr converts ap to a unix.Sockaddr and returns the address family.
func toSockaddr(ap netip.AddrPort) (unix.Sockaddr, int) {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}, unix.AF_INET
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}, unix.AF_INET6
}

// fromSockaddr converts a kernel socket address to a netip.AddrPort; other
// families give the zero AddrPort.
func fromSockaddr(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// connOpts are the options of a listening socket that the sockets accepted
// from it inherit: the keepalive setting (see setConnOptions) and the TCP
// user timeout (see setUserTimeout).
type connOpts struct {
	keepAlive   time.Duration
	userTimeout time.Duration
}

// listenSocket creates a non-blocking listening TCP socket on bind with
// SO_REUSEADDR and IP_FREEBIND (so bind succeeds before the address is
// local) and returns its fd and the bound address. TCP_NODELAY, the
// keepalive settings and the TCP user timeout are set on the listening
// socket: accepted sockets inherit them, which saves those syscalls per
// connection.
func listenSocket(bind netip.AddrPort, opts connOpts) (int, netip.AddrPort, error) {
	fd, err := bindSocket(bind, opts)
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	fail := func(what string, err error) (int, netip.AddrPort, error) {
		unix.Close(fd)
		return -1, netip.AddrPort{}, fmt.Errorf("%s %s: %w", what, bind, err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		return fail("listening on", err)
	}
	lsa, err := unix.Getsockname(fd)
	if err != nil {
		return fail("reading local address of", err)
	}
	return fd, fromSockaddr(lsa), nil
}

// bindSocket is listenSocket before listen(2): a non-blocking TCP socket
// with its options, bound to bind. The caller owns the fd.
func bindSocket(bind netip.AddrPort, opts connOpts) (int, error) {
	sa, fam := toSockaddr(bind)
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("creating socket for %s: %w", bind, err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s %s: %w", what, bind, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setting SO_REUSEADDR on", err)
	}
	if fam == unix.AF_INET {
		err = unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_FREEBIND, 1)
	} else {
		err = unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
	}
	if err != nil {
		return fail("setting IP_FREEBIND on", err)
	}
	if err := setConnOptions(fd, opts); err != nil {
		return fail("setting options on", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			err = fmt.Errorf("%w (another socket listens there, or on every address at port %d, as a broker does with its default listener; ss -ltnp 'sport = :%d' names it)",
				err, bind.Port(), bind.Port())
		}
		return fail("binding", err)
	}
	return fd, nil
}

// setConnOptions sets TCP_NODELAY, keepalive (idle time and probe
// interval opts.keepAlive; the probe count is the kernel's
// tcp_keepalive_probes, 9 by default) and the TCP user timeout on a
// socket. opts.keepAlive <= 0 leaves keepalive off, opts.userTimeout <= 0
// the user timeout as it is.
func setConnOptions(fd int, opts connOpts) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fmt.Errorf("setting TCP_NODELAY: %w", err)
	}
	if err := setKeepAlive(fd, opts.keepAlive); err != nil {
		return err
	}
	if opts.userTimeout > 0 {
		return setUserTimeout(fd, opts.userTimeout)
	}
	return nil
}

// resetConnOptions is setConnOptions for a socket whose options may be set
// already, inherited from a listening socket made with other settings (a
// reload changed them, or the process this one succeeds made it):
// opts.keepAlive <= 0 turns keepalive off and opts.userTimeout <= 0 puts
// the kernel's default user timeout back.
func resetConnOptions(fd int, opts connOpts) error {
	if opts.keepAlive <= 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0); err != nil {
			return fmt.Errorf("clearing SO_KEEPALIVE: %w", err)
		}
	}
	if opts.userTimeout <= 0 {
		if err := setUserTimeout(fd, 0); err != nil {
			return err
		}
	}
	return setConnOptions(fd, opts)
}

// setKeepAlive turns TCP keepalive on with idle time and probe interval
// keepAlive (see setConnOptions); keepAlive <= 0 does nothing.
func setKeepAlive(fd int, keepAlive time.Duration) error {
	if keepAlive <= 0 {
		return nil
	}
	secs := int((keepAlive + time.Second - 1) / time.Second)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return fmt.Errorf("setting SO_KEEPALIVE: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs); err != nil {
		return fmt.Errorf("setting TCP_KEEPIDLE: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs); err != nil {
		return fmt.Errorf("setting TCP_KEEPINTVL: %w", err)
	}
	return nil
}

// setUserTimeout sets TCP_USER_TIMEOUT on a socket to d, in whole
// milliseconds rounded up: the longest that bytes sent may stay
// unacknowledged, or wait for a peer's zero window to open, before the
// kernel ends the connection (and, with keepalive on, the longest a peer
// whose probes go unanswered is waited for). d <= 0 sets 0, the kernel's
// default, which a socket accepted from a listening socket made with
// another setting needs.
func setUserTimeout(fd int, d time.Duration) error {
	ms := 0
	if d > 0 {
		ms = int((d + time.Millisecond - 1) / time.Millisecond)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms); err != nil {
		return fmt.Errorf("setting TCP_USER_TIMEOUT: %w", err)
	}
	return nil
}

// dialSocket starts a non-blocking connect to addr and returns the socket,
// with TCP_NODELAY set (keepalive is set later, by armKeepAlive, on
// sessions that live long enough to need it). The connection completes (or
// fails) later: the caller waits for EPOLLOUT. An error means the attempt
// failed at once.
func dialSocket(addr netip.AddrPort) (int, error) {
	fam := unix.AF_INET6
	if a := addr.Addr(); a.Is4() || a.Is4In6() {
		fam = unix.AF_INET
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("creating socket: %w", err)
	}
	if err := setConnOptions(fd, connOpts{}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	for {
		err = connect(fd, addr)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return -1, fmt.Errorf("connecting to %s: %w", addr, err)
	}
	return fd, nil
}

// accept takes one connection from the listening socket lnfd with
// accept4(2), non-blocking and close-on-exec, and returns it with the
// client's address. It calls accept4 itself because unix.Accept4 follows
// every IPv4 accept with a getsockopt(SO_PROTOCOL) on the listening socket
// (to tell L2TP sockets apart): one syscall more per connection.
func accept(lnfd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	n := uint32(unix.SizeofSockaddrAny)
	fd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lnfd), uintptr(unsafe.Pointer(&rsa)),
		uintptr(unsafe.Pointer(&n)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, netip.AddrPort{}, e
	}
	return int(fd), fromRawSockaddr(&rsa, n), nil
}

// fromRawSockaddr converts the first n bytes of an address filled in by
// the kernel to a netip.AddrPort; other families and short addresses give
// the zero AddrPort.
func fromRawSockaddr(rsa *unix.RawSockaddrAny, n uint32) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}
		}
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// connect is connect(2) to addr with the address built on the stack:
// unix.Connect takes a unix.Sockaddr, which costs an allocation per
// connection.
func connect(fd int, addr netip.AddrPort) error {
	var e unix.Errno
	if a := addr.Addr(); a.Is4() || a.Is4In6() {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Unmap().As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], addr.Port())
		_, _, e = unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	} else {
		sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], addr.Port())
		_, _, e = unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet6)
	}
	if e != 0 {
		return e
	}
	return nil
}

// socketError returns the pending error of fd (SO_ERROR), nil if none.
func socketError(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return fmt.Errorf("reading SO_ERROR: %w", err)
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}

// resetClose closes a connected socket with a reset (SO_LINGER 0): the
// peer sees ECONNRESET instead of an orderly end.
func resetClose(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}

// discardMax bounds one discardInput: more than any receive queue holds
// (net.core.rmem_max and tcp_rmem are far below it).
const discardMax = 1 << 30

// discardInput drops every byte waiting in fd's receive queue, without
// blocking and without copying them: recv(2) with MSG_TRUNC, which TCP
// takes as "discard" (Linux 2.4.4 and later). One call empties the queue,
// whatever it holds. It returns how many bytes it dropped.
//
// close(2) of a TCP socket whose receive queue is not empty sends a reset
// instead of a FIN, and a reset drops what the socket's kernel has not
// sent yet: a socket meant to end in order is emptied first.
func discardInput(fd int) int {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), 0, discardMax,
			unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0
		}
		return int(n)
	}
}
