package balancer

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds a listener's listening sockets: one per event loop, all
// bound to the same address with SO_REUSEPORT. The kernel spreads
// incoming connections over their accept queues by a hash of each
// connection's addresses and ports, so a loop accepts from its own queue
// and serves what it accepts: no two loops wake for the same connection
// and none contends for another's queue.
//
// A socket of such a group that is closed while others keep the port drops
// the connections waiting in its accept queue (the kernel does not move
// them to the others). So the sockets of a listener are closed only all
// together, when the whole listener goes, and an upgrade hands every one
// of them over (ListeningFiles, Inherit).

// maxListenSockets bounds a listener's sockets: past it loops share them
// (spread). An upgrade hands every socket of every listener over in one
// control response, which carries at most 250 files (the kernel's
// SCM_MAX_FD is 253): one socket per loop on a host with many CPUs would
// leave room for few listeners.
const maxListenSockets = 16

// socketsFor is the number of listening sockets for loops event loops.
func socketsFor(loops int) int { return min(max(loops, 1), maxListenSockets) }

// listenGroup creates n listening sockets on bind that share its port with
// SO_REUSEPORT, and returns them with the bound address (with port 0 the
// kernel's choice, the same for all). A probe socket without SO_REUSEPORT
// is bound first and held until the group is bound: an address in use
// (by any socket, with SO_REUSEPORT or without) fails as it would
// without the group, instead of joining another group of the same user.
// On error nothing stays open.
func listenGroup(bind netip.AddrPort, keepAlive time.Duration, n int) ([]int, netip.AddrPort, error) {
	probe, err := boundSocket(bind, false)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	defer unix.Close(probe)
	psa, err := unix.Getsockname(probe)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("reading local address of %s: %w", bind, err)
	}
	at := netip.AddrPortFrom(bind.Addr(), fromSockaddr(psa).Port())
	fds := make([]int, 0, n)
	var addr netip.AddrPort
	for range max(n, 1) {
		fd, a, err := listenSocket(at, keepAlive)
		if err != nil {
			closeSockets(fds)
			return nil, netip.AddrPort{}, err
		}
		fds, addr = append(fds, fd), a
	}
	return fds, addr, nil
}

// closeSockets closes every fd of fds.
func closeSockets(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// spread assigns listening sockets to n event loops: socket i to loop
// i mod n, so that with more sockets than loops (a process that took over
// from one with more loops) a loop watches several and none is left
// unaccepted; with fewer, the loops without one of their own watch socket
// j mod len(sockets) too (EPOLLEXCLUSIVE wakes one of them per
// connection, as for a shared socket). Every socket gets at least one loop
// and every loop at least one socket.
func spread(sockets []int, n int) [][]int {
	out := make([][]int, n)
	for i, fd := range sockets {
		out[i%n] = append(out[i%n], fd)
	}
	for j := len(sockets); j < n; j++ {
		out[j] = []int{sockets[j%len(sockets)]}
	}
	return out
}

// inheritedAddr checks that every fd of fds is a listening TCP socket
// bound to want (any port when want's is 0; the same one for all) and
// returns the bound address.
func inheritedAddr(fds []int, want netip.AddrPort) (netip.AddrPort, error) {
	if len(fds) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no socket")
	}
	var first netip.AddrPort
	for i, fd := range fds {
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("fd %d: %w", fd, err)
		}
		got := fromSockaddr(sa)
		acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if err != nil || acc == 0 {
			return netip.AddrPort{}, fmt.Errorf("fd %d is not a listening socket", fd)
		}
		if got.Addr().Unmap() != want.Addr().Unmap() || (want.Port() != 0 && got.Port() != want.Port()) {
			return netip.AddrPort{}, fmt.Errorf("fd %d is bound to %s, not %s", fd, got, want)
		}
		if i == 0 {
			first = got
		} else if got != first {
			return netip.AddrPort{}, fmt.Errorf("fd %d is bound to %s, fd %d to %s", fds[0], first, fd, got)
		}
	}
	return first, nil
}
