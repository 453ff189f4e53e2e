package netsetup

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenConfig returns a net.ListenConfig whose sockets set IP_FREEBIND (and
// IPV6_FREEBIND) before bind, so that a listener can bind VIP:port while the
// VIP is not yet an address of this host. Taking over a VIP is then only
// "add the address and announce it": the listener already waits on it.
//
// The returned value is a fresh struct owned by the caller.
func ListenConfig() *net.ListenConfig {
	return &net.ListenConfig{Control: freebindControl}
}

// freebindControl sets IP_FREEBIND on the raw socket before bind(2). For
// IPv6 sockets ("tcp6", "udp6") it sets IPV6_FREEBIND (Linux >= 4.15); the
// kernel keeps one freebind bit per socket either way.
func freebindControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		switch network {
		case "tcp6", "udp6":
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
		default:
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}
	})
	if err != nil {
		return fmt.Errorf("controlling socket for %s: %w", address, err)
	}
	if serr != nil {
		return fmt.Errorf("setting IP_FREEBIND on %s: %w", address, serr)
	}
	return nil
}

// ListenFreebind listens on a TCP address (host:port, as for net.Listen)
// with IP_FREEBIND set, so the host part may be an address this host does
// not have (yet); see ListenConfig. The caller owns the listener.
func ListenFreebind(ctx context.Context, address string) (*net.TCPListener, error) {
	ln, err := ListenConfig().Listen(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", address, err)
	}
	return ln.(*net.TCPListener), nil
}
