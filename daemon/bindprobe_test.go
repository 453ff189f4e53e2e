package daemon

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/freeport"
)

// probeListen meets the error net.Listen meets, word for word, beside a
// socket on one address or on every address of the port, for each kind
// of address; on a free port it succeeds and leaves nothing listening.
func TestProbeListen(t *testing.T) {
	hosts := []string{"127.0.0.1", "0.0.0.0", "127.0.0.2"}
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		hosts = append(hosts, "::1", "::")
	}
	for _, holder := range hosts {
		held, err := net.Listen("tcp", net.JoinHostPort(holder, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := netip.MustParseAddrPort(held.Addr().String()).Port()
		for _, host := range hosts {
			addr := netip.AddrPortFrom(netip.MustParseAddr(host), port)
			probed := probeListen(addr)
			ln, err := net.Listen("tcp", addr.String())
			if err == nil {
				ln.Close()
			}
			if (probed == nil) != (err == nil) || (err != nil && probed.Error() != err.Error()) {
				t.Errorf("beside a socket on %s, %s: probeListen %v, net.Listen %v", holder, addr, probed, err)
			}
		}
		held.Close()
	}
	free := netip.MustParseAddrPort(freeport.Addr(t, "127.0.0.1"))
	if err := probeListen(free); err != nil {
		t.Fatalf("probeListen of a free port: %v", err)
	}
	if c, err := net.DialTimeout("tcp", free.String(), time.Second); err == nil {
		c.Close()
		t.Error("a client connected to the probed port")
	}
}
