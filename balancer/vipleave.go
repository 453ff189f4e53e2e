package balancer

import (
	"net/netip"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// CloseSessionsTo closes at once every session whose client connected to
// one of addrs (the destination address of the client's connection), and
// returns how many it closed, once every loop has done so. The daemon
// calls it when a VIP leaves this host while the listener keeps running:
// the clients' packets now reach the new master, so these sessions can
// never carry another byte, and keeping their broker connections open
// would hold exclusive queues and unacknowledged deliveries until the
// broker's heartbeat timeout. Their clients are reset: what was queued
// for them cannot be delivered from an address that left. A listener
// bound to an address closes all its sessions when that address is in
// addrs; a wildcard listener asks each session's socket for its local
// address.
func (l *Listener) CloseSessionsTo(addrs []netip.Addr) int {
	if len(addrs) == 0 {
		return 0
	}
	l.mu.Lock()
	loops := l.loops
	l.mu.Unlock()
	closed := make(chan int, len(loops))
	l.broadcast(loops, func(lp *loop) { closed <- lp.closeSessionsTo(addrs) })
	close(closed)
	n := 0
	for c := range closed {
		n += c
	}
	if n > 0 {
		l.log.Info("closed the sessions of addresses that left this host", zap.Int("sessions", n), zap.Any("addresses", addrs))
	}
	return n
}

// closeSessionsTo closes the loop's sessions to one of addrs; their
// client sockets are reset (see session.close), their server sockets
// closed in order.
func (lp *loop) closeSessionsTo(addrs []netip.Addr) int {
	in := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, x := range addrs {
			if x.Unmap() == a {
				return true
			}
		}
		return false
	}
	all := lp.local.IsValid() && !lp.local.Addr().IsUnspecified() && in(lp.local.Addr())
	if !all && lp.local.IsValid() && !lp.local.Addr().IsUnspecified() {
		return 0 // bound to another address: none of its sessions
	}
	return lp.closeSessions(func(s *session) bool { return all || in(sessionLocalAddr(s)) }, EndVIPLeft)
}

// sessionLocalAddr is the address the client connected to.
func sessionLocalAddr(s *session) netip.Addr {
	sa, err := unix.Getsockname(s.cli.fd)
	if err != nil {
		return netip.Addr{}
	}
	return fromSockaddr(sa).Addr()
}
