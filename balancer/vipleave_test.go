package balancer

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestCloseSessionsTo: a listener bound to an address closes all its
// sessions when that address leaves; a wildcard listener closes only the
// sessions of clients that connected to it; the others keep working.
func TestCloseSessionsTo(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)

	bound := startListener(t, baseConfig(backendsOf(srv)), 2)
	c1, c2 := bound.dial(t), bound.dial(t)
	for _, c := range []net.Conn{c1, c2} {
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if n := bound.CloseSessionsTo([]netip.Addr{netip.MustParseAddr("127.0.0.9")}); n != 0 {
		t.Fatalf("another address: closed %d", n)
	}
	if _, err := roundTrip(c1, []byte("still")); err != nil {
		t.Fatalf("after another address left: %v", err)
	}
	if n := bound.CloseSessionsTo([]netip.Addr{bound.Addr().Addr()}); n != 2 {
		t.Fatalf("its own address: closed %d, want 2", n)
	}
	for _, c := range []net.Conn{c1, c2} {
		if err := waitClosed(c, 5*time.Second); err != nil {
			t.Fatalf("session to the address that left: %v", err)
		}
	}
	eventually(t, 5*time.Second, "no session left", func() bool { return bound.Snapshot().Active == 0 })

	cfg := baseConfig(backendsOf(srv))
	cfg.Bind = netip.MustParseAddrPort("0.0.0.0:0")
	wild := startListener(t, cfg, 2)
	port := wild.Addr().Port()
	dial := func(ip string) net.Conn {
		c, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr(ip), port).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		return c
	}
	stay, leave := dial("127.0.0.1"), dial("127.0.0.3")
	if n := wild.CloseSessionsTo([]netip.Addr{netip.MustParseAddr("127.0.0.3")}); n != 1 {
		t.Fatalf("wildcard listener: closed %d, want 1", n)
	}
	if err := waitClosed(leave, 5*time.Second); err != nil {
		t.Fatalf("session to 127.0.0.3: %v", err)
	}
	if _, err := roundTrip(stay, []byte("still")); err != nil {
		t.Fatalf("session to 127.0.0.1: %v", err)
	}
}

// TestCloseSessionsToLogged: with the session log on, a session closed
// because its address left says so; so does one an operator shut down.
func TestCloseSessionsToLogged(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startLogged(t, baseConfig([]BackendConfig{{Name: "a", Address: srv.addr, Weight: 1}}))
	established(t, r, "x")
	r.CloseSessionsTo([]netip.Addr{r.Addr().Addr()})
	r.wantEnd(t, EndVIPLeft, 1, 1, nil, srv)
	established(t, r, "y")
	if n, err := r.ShutdownSessions("a"); err != nil || n != 1 {
		t.Fatalf("ShutdownSessions: %d, %v", n, err)
	}
	r.wantEnd(t, EndShutdown, 1, 1, nil, srv)
}

// TestCloseSessionsToResetsClients: the client socket of a session closed
// because its address left is reset, not closed in order: what was still
// queued for the client is dropped at once rather than retransmitted from
// an address that is no longer on the host.
func TestCloseSessionsToResetsClients(t *testing.T) {
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			return
		}
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write(pattern(1<<20, 9)) // more than the client reads before the address leaves
		io.Copy(io.Discard, c)
	})
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	if _, err := c.Write([]byte("AMQP")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if n := r.CloseSessionsTo([]netip.Addr{r.Addr().Addr()}); n != 1 {
		t.Fatalf("closed %d sessions, want 1", n)
	}
	if _, err := readToFailure(c, pattern(1<<20, 9)[1000:], 32<<10, 0); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read %v after its address left, want a reset", err)
	}
}
