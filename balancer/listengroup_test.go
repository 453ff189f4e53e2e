package balancer

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSpread: every socket is watched by a loop and every loop watches a
// socket, whatever the counts.
func TestSpread(t *testing.T) {
	for _, c := range []struct {
		sockets, loops int
		want           [][]int
	}{
		{1, 1, [][]int{{0}}},
		{2, 2, [][]int{{0}, {1}}},
		{3, 2, [][]int{{0, 2}, {1}}},
		{5, 2, [][]int{{0, 2, 4}, {1, 3}}},
		{1, 3, [][]int{{0}, {0}, {0}}},
		{2, 5, [][]int{{0}, {1}, {0}, {1}, {0}}},
	} {
		var fds []int
		for i := range c.sockets {
			fds = append(fds, i)
		}
		got := spread(fds, c.loops)
		if !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("spread(%d sockets, %d loops) = %v, want %v", c.sockets, c.loops, got, c.want)
		}
	}
}

// TestSocketsFor: one socket per loop, up to maxListenSockets.
func TestSocketsFor(t *testing.T) {
	for _, c := range []struct{ loops, want int }{{0, 1}, {1, 1}, {2, 2}, {16, 16}, {17, 16}, {64, 16}} {
		if got := socketsFor(c.loops); got != c.want {
			t.Errorf("socketsFor(%d) = %d, want %d", c.loops, got, c.want)
		}
	}
}

// TestEveryLoopAccepts: each event loop has a listening socket of its own
// (SO_REUSEPORT, one port), and every loop accepts and serves a share of
// the connections.
func TestEveryLoopAccepts(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	const loops, conns = 4, 64
	r := startListener(t, baseConfig(backendsOf(srv)), loops)
	r.mu.Lock()
	lnfds := slices.Clone(r.lnfds)
	lps := r.loops
	r.mu.Unlock()
	if len(lnfds) != loops {
		t.Fatalf("%d listening sockets for %d loops", len(lnfds), loops)
	}
	for _, fd := range lnfds {
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || v != 1 {
			t.Errorf("socket %d: SO_REUSEPORT %d, %v", fd, v, err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil || fromSockaddr(sa) != r.Addr() {
			t.Errorf("socket %d bound to %v (%v), want %s", fd, sa, err, r.Addr())
		}
	}
	owners := map[int]int{}
	for i, lp := range lps {
		if len(lp.lns) != 1 {
			t.Fatalf("loop %d watches %v", i, lp.lns)
		}
		owners[lp.lns[0]]++
	}
	if len(owners) != loops {
		t.Fatalf("loops share sockets: %v", owners)
	}

	for range conns {
		c := r.dial(t)
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	per := make([]int, len(lps))
	for i, lp := range lps {
		done := make(chan struct{})
		lp.post(func(lp *loop) { per[i] = lp.nsess; close(done) })
		<-done
	}
	sum := 0
	for i, n := range per {
		if n == 0 {
			t.Errorf("loop %d serves none of %d connections (per loop: %v)", i, conns, per)
		}
		sum += n
	}
	if sum != conns {
		t.Errorf("%d sessions, want %d (per loop: %v)", sum, conns, per)
	}
	t.Logf("sessions per loop: %v", per)
}

// TestHandoverOtherLoopCount: a successor with fewer or more event loops
// than its predecessor adopts every socket handed over; connections that
// waited in any socket's accept queue while no process accepted are all
// served, and no queue keeps one.
func TestHandoverOtherLoopCount(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	for _, c := range []struct{ old, succ int }{{3, 2}, {3, 1}, {2, 5}, {1, 3}} {
		cfg := baseConfig(backendsOf(srv))
		old := startListener(t, cfg, c.old)
		cfg.Bind = old.Addr()
		fds := handedOver(t, old.Listener)
		if len(fds) != c.old {
			t.Fatalf("%d loops handed over %d sockets", c.old, len(fds))
		}
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
		if slices.Contains(queued, 0) { // 3 x (2/3)^48 for 3 sockets
			t.Fatalf("%d -> %d loops: the kernel left a queue empty (%v): the test proves nothing", c.old, c.succ, queued)
		}

		succ, err := NewListener(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		succ.loopCount = c.succ
		if err := succ.Inherit(fds...); err != nil {
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

// TestStopClosesEverySocket: when the listener stops, all its sockets go:
// the port is free for a socket without SO_REUSEPORT, clients are refused,
// and no fd is left.
func TestStopClosesEverySocket(t *testing.T) {
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

// TestListenAddressInUse: a listener does not join a port that another
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
		}
		unix.Close(fd)
	}
}
