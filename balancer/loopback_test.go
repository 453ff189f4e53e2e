package balancer

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestBackendLoopsBack: a backend whose address is the listener's own
// (its bind, or an address of this host under an unspecified bind) is
// found at its first connection and takes no more: every client is served
// by the real backend, the listener does not connect to itself again and
// again (each such connection being accepted and handed on, pinned by
// persistence to the same backend, until the file descriptors ran out),
// and the snapshot says so. A reload (Apply) tries the address again.
func TestBackendLoopsBack(t *testing.T) {
	cases := []struct {
		name string
		bind func(port uint16) netip.AddrPort
		self func(port uint16) netip.AddrPort
	}{
		{"the bind itself", loopbackAt, loopbackAt},
		{"loopback under 0.0.0.0", anyAt, func(p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), p) }},
		{"the host's own address under [::]", func(p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.IPv6Unspecified(), p) }, ownAddrAt(t)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.self(1).IsValid() {
				t.Skip("this host has no non-loopback IPv4 address")
			}
			real := newServer(t, "127.0.0.1", echo)
			// The kernel chooses the port as the listener binds (a port
			// found free beforehand may be taken by another test's
			// connection by then); self is added at it by a reload.
			cfg := baseConfig([]BackendConfig{{Name: "real", Address: real.addr, Weight: 1}})
			cfg.Bind = tc.bind(0)
			cfg.PersistenceTimeout = time.Minute
			l := startListener(t, cfg, 2)
			port := l.Addr().Port()
			cfg.Backends = append([]BackendConfig{{Name: "self", Address: tc.self(port), Weight: 1}}, cfg.Backends...)
			if err := l.Apply(cfg); err != nil {
				t.Fatal(err)
			}
			client := func(i int) {
				t.Helper()
				c, err := net.Dial("tcp", loopbackAt(port).String())
				if err != nil {
					t.Fatal(err)
				}
				msg := fmt.Appendf(nil, "client %d", i)
				got, err := roundTrip(c, msg)
				c.Close()
				if err != nil || string(got) != string(msg) {
					t.Fatalf("client %d: %q, %v; want its bytes back", i, got, err)
				}
			}
			// The first client finds the loop: the listener does not
			// connect to its bind, nor to a loopback address under an
			// unspecified bind; to another address of the host it
			// connects once, sees where from, and resets it at once.
			client(0)
			eventually(t, 5*time.Second, "the loop's connection to end", func() bool { return l.Snapshot().Active == 0 })
			first := l.Snapshot().Total
			if first > 2 {
				t.Fatalf("the listener accepted %d connections for one client", first)
			}
			for i := 1; i < 20; i++ {
				client(i)
			}
			s := l.Snapshot()
			if b := backendSnap(s, "self"); !b.LoopsBack || b.Total != 0 {
				t.Errorf("self: loops_back %v, %d sessions; want true, 0", b.LoopsBack, b.Total)
			}
			if b := backendSnap(s, "real"); b.LoopsBack || b.Total < 20 {
				t.Errorf("real: loops_back %v, %d sessions; want false, at least 20", b.LoopsBack, b.Total)
			}
			if s.Total != first+19 {
				t.Errorf("the listener accepted %d connections for 19 clients after the first: it connected to itself", s.Total-first)
			}
			if err := l.Apply(cfg); err != nil {
				t.Fatal(err)
			}
			if b := backendSnap(l.Snapshot(), "self"); b.LoopsBack {
				t.Error("self still marked after a reload")
			}
		})
	}
}

func loopbackAt(p uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p)
}

func anyAt(p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.IPv4Unspecified(), p) }

// ownAddrAt returns a function giving a non-loopback IPv4 address of this
// host at a port; invalid when it has none.
func ownAddrAt(t *testing.T) func(uint16) netip.AddrPort {
	return func(p uint16) netip.AddrPort {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() && !ip.IsLoopback() {
					return netip.AddrPortFrom(ip.Unmap(), p)
				}
			}
		}
		return netip.AddrPort{}
	}
}
