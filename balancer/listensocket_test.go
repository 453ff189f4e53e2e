package balancer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHandoverOtherLoopCount: a successor with fewer or more event loops
// than its predecessor serves the socket handed over; connections that
// waited in its accept queue while no process accepted are all served,
// and the queue keeps none.
func TestHandoverOtherLoopCount(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	for _, c := range []struct{ old, succ int }{{3, 2}, {3, 1}, {2, 5}, {1, 3}} {
		cfg := baseConfig(backendsOf(srv))
		old := startListener(t, cfg, c.old)
		cfg.Bind = old.Addr()
		fds := handedOver(t, old.Listener)
		// The old listener goes; its sockets stay open in the successor's
		// hands, and clients queue on them.
		old.stop(t)
		const conns = 48
		clients := make([]net.Conn, 0, conns)
		for range conns {
			cl, err := net.DialTimeout("tcp", cfg.Bind.String(), time.Second)
			if err != nil {
				t.Fatalf("%d -> %d loops: connecting while nobody accepts: %v", c.old, c.succ, err)
			}
			defer cl.Close()
			clients = append(clients, cl)
		}
		queued := acceptQueues(t, fds)
		total := 0
		for _, q := range queued {
			total += q
		}
		if total != conns {
			t.Fatalf("%d -> %d loops: %d connections queued (%v), want %d", c.old, c.succ, total, queued, conns)
		}

		succ, err := NewListener(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		succ.loopCount = c.succ
		if err := succ.Inherit(fds[0]); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- succ.Run(ctx) }()
		<-succ.Ready()
		for i, cl := range clients {
			if _, err := roundTrip(cl, []byte("queued")); err != nil {
				t.Errorf("%d -> %d loops: client %d of %d (queues %v): %v", c.old, c.succ, i, conns, queued, err)
			}
		}
		if left := acceptQueues(t, fds); slices.ContainsFunc(left, func(n int) bool { return n > 0 }) {
			t.Errorf("%d -> %d loops: connections left in the accept queues: %v", c.old, c.succ, left)
		}
		if n := succ.Snapshot().Total; n != conns {
			t.Errorf("%d -> %d loops: the successor served %d sessions, want %d", c.old, c.succ, n, conns)
		}
		t.Logf("%d -> %d loops: queued per socket %v, all served", c.old, c.succ, queued)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// acceptQueues returns the number of connections waiting in each listening
// socket's accept queue (TCP_INFO's unacked count of a listening socket).
func acceptQueues(t *testing.T, fds []int) []int {
	t.Helper()
	out := make([]int, len(fds))
	for i, fd := range fds {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatalf("TCP_INFO of socket %d: %v", fd, err)
		}
		out[i] = int(info.Unacked)
	}
	return out
}

// TestStopClosesTheSocket: when the listener stops, its socket goes: the
// port is free, clients are refused, and no fd is left.
func TestStopClosesTheSocket(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	before := countFds(t)
	r := startListener(t, baseConfig(backendsOf(srv)), 3)
	addr := r.Addr()
	if _, err := roundTrip(r.dial(t), []byte("x")); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	if c, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		c.Close()
		t.Error("a client connected after the listener stopped")
	}
	fd, err := boundSocket(addr, false)
	if err != nil {
		t.Fatalf("the port after the listener stopped: %v", err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Errorf("listening on the port after the listener stopped: %v", err)
	}
	unix.Close(fd)
	eventually(t, 5*time.Second, "the listener's fds closed", func() bool { return countFds(t) <= before+1 }) // +1: the dialled client
}

// TestListenAddressInUse: a listener does not bind a port that another
// socket holds, whether that one has SO_REUSEPORT or not.
func TestListenAddressInUse(t *testing.T) {
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: unusedAddr(t, "127.0.0.1"), Weight: 1}})
	for _, reuse := range []bool{false, true} {
		fd, err := boundSocket(netip.MustParseAddrPort("127.0.0.1:0"), reuse)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Listen(fd, 1); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		cfg.Bind = fromSockaddr(sa)
		l, err := NewListener(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.loopCount = 2
		if err := l.Listen(); err == nil {
			l.CloseUnserved()
			t.Errorf("Listen joined a port held by a socket (SO_REUSEPORT %v)", reuse)
		} else if want := fmt.Sprintf("ss -ltnp 'sport = :%d' names it", cfg.Bind.Port()); !errors.Is(err, unix.EADDRINUSE) || !strings.Contains(err.Error(), want) {
			t.Errorf("Listen: %v, want EADDRINUSE and the hint %q", err, want)
		}
		unix.Close(fd)
	}
	// A broker on every address at the port (its default listener).
	fd, err := boundSocket(netip.MustParseAddrPort("0.0.0.0:0"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	cfg.Bind = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), fromSockaddr(sa).Port())
	l, err := NewListener(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err == nil {
		l.CloseUnserved()
		t.Error("Listen bound a port that a socket on every address holds")
	} else if !strings.Contains(err.Error(), "or on every address at port") {
		t.Errorf("Listen beside a wildcard listener: %v, want the hint", err)
	}
}

// boundSocket is a TCP socket with SO_REUSEADDR, and SO_REUSEPORT if
// reusePort, bound to bind.
func boundSocket(bind netip.AddrPort, reusePort bool) (int, error) {
	sa, fam := toSockaddr(bind)
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if reusePort {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// TestProbeBind: ProbeBind fails where Run would, with Run's words (a
// socket on the address, or on every address at the port), and succeeds
// on a free port, which it leaves free and never listens on.
func TestProbeBind(t *testing.T) {
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: unusedAddr(t, "127.0.0.1"), Weight: 1}})
	cfg.Name = "amqp2"
	for _, holder := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		fd, err := boundSocket(netip.MustParseAddrPort(holder), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Listen(fd, 1); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		cfg.Bind = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), fromSockaddr(sa).Port())
		probed := ProbeBind(cfg)
		l, err := NewListener(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ran := l.Run(context.Background())
		if probed == nil || ran == nil || probed.Error() != ran.Error() || !errors.Is(probed, unix.EADDRINUSE) {
			t.Errorf("beside a socket on %s: ProbeBind %v, Run %v; want Run's error", holder, probed, ran)
		}
		unix.Close(fd)
	}
	cfg.Bind = unusedAddr(t, "127.0.0.1")
	if err := ProbeBind(cfg); err != nil {
		t.Fatalf("ProbeBind of a free port: %v", err)
	}
	if c, err := net.DialTimeout("tcp", cfg.Bind.String(), time.Second); err == nil {
		c.Close()
		t.Error("a client connected to the probed port")
	}
	ln, err := net.Listen("tcp", cfg.Bind.String())
	if err != nil {
		t.Fatalf("the port after the probe: %v", err)
	}
	ln.Close()
}
