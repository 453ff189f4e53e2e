package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
)

// ownPorts returns the ports where the running model old listens: its
// listeners' and its metrics endpoint's.
func ownPorts(old *config.Config) map[uint16]bool {
	ours := map[uint16]bool{}
	for _, l := range old.Listeners {
		ours[l.Bind.Port()] = true
	}
	if old.MetricsListen.IsValid() {
		ours[old.MetricsListen.Port()] = true
	}
	return ours
}

// probeBinds tries the binds of the listeners p adds or moves now, as
// their start will (balancer.ProbeBind), and returns the errors by
// listener name. A bind at a port where the running model old listens (a
// listener of this daemon, or its metrics endpoint) is not tried: a
// reload frees or keeps such a port itself before it binds, which a probe
// made now cannot tell.
func probeBinds(p Plan, old, nc *config.Config) map[string]error {
	ours := ownPorts(old)
	errs := map[string]error{}
	for _, c := range p.Listeners {
		if (c.Op != OpAdd && c.Op != OpReplace) || ours[c.New.Bind.Port()] {
			continue
		}
		if err := balancer.ProbeBind(nc.BalancerConfig(c.New)); err != nil {
			errs[c.Name] = err
		}
	}
	return errs
}

// probeMetricsBind tries the bind of the metrics endpoint's new address
// when p moves it, and returns the error the move would meet (worded as
// listenMetrics words it), or nil: none known. As probeBinds, it does not
// try a port where the running model old listens, nor an address with a
// zone.
func probeMetricsBind(p Plan, old, nc *config.Config) error {
	to := nc.MetricsListen
	if !p.Metrics || !to.IsValid() || to.Addr().Zone() != "" || ownPorts(old)[to.Port()] {
		return nil
	}
	if err := probeListen(to); err != nil {
		return fmt.Errorf("listening for metrics: %w", err)
	}
	return nil
}

// errProbed ends probeListen's net.Listen once its socket is bound.
var errProbed = errors.New("bound")

// probeListen reports the error net.Listen("tcp", addr) would return now,
// or nil. It makes the socket as net.Listen makes it (its family, and
// every address of both families for an unspecified one) and binds it in
// the socket's Control hook, which runs before net.Listen binds; the
// hook's error then ends the call before bind(2) and listen(2), and the
// socket is closed: no client can connect to it meanwhile.
func probeListen(addr netip.AddrPort) error {
	lc := net.ListenConfig{Control: func(network, _ string, c syscall.RawConn) error {
		var bindErr error
		if err := c.Control(func(fd uintptr) { bindErr = unix.Bind(int(fd), sockaddrFor(network, addr)) }); err != nil {
			return err
		}
		if bindErr != nil {
			return os.NewSyscallError("bind", bindErr)
		}
		return errProbed
	}}
	ln, err := lc.Listen(context.Background(), "tcp", addr.String())
	if err == nil { // the hook ends every call
		ln.Close()
	}
	if errors.Is(err, errProbed) {
		return nil
	}
	return err
}

// sockaddrFor returns addr as a socket address of network, "tcp4" or
// "tcp6" as net.Listen's Control hook names the socket's family: an IPv4
// address on an IPv6 socket is the unspecified address when it is
// unspecified, else its IPv4-mapped form.
func sockaddrFor(network string, addr netip.AddrPort) unix.Sockaddr {
	a := addr.Addr()
	if network == "tcp4" {
		return &unix.SockaddrInet4{Port: int(addr.Port()), Addr: a.As4()}
	}
	if a.Is4() && a.IsUnspecified() {
		a = netip.IPv6Unspecified()
	}
	return &unix.SockaddrInet6{Port: int(addr.Port()), Addr: a.As16()}
}
