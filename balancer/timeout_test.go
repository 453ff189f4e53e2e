package balancer

import (
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSessionTimeoutDefaults(t *testing.T) {
	c := validConfig().withDefaults()
	if c.HandshakeTimeout != DefaultHandshakeTimeout || c.FinTimeout != DefaultFinTimeout || c.IdleTimeout != 0 {
		t.Errorf("defaults: handshake %v fin %v idle %v, want %v, %v and 0 (off)",
			c.HandshakeTimeout, c.FinTimeout, c.IdleTimeout, DefaultHandshakeTimeout, DefaultFinTimeout)
	}
	c = validConfig()
	c.HandshakeTimeout, c.FinTimeout = -1, -1
	if err := c.Validate(); err != nil {
		t.Fatalf("negative (off) session timeouts refused: %v", err)
	}
	if c = c.withDefaults(); c.HandshakeTimeout != -1 || c.FinTimeout != -1 {
		t.Errorf("negative session timeouts became %v and %v, want them kept (off)", c.HandshakeTimeout, c.FinTimeout)
	}
}

// dialSilent opens n connections through r that send nothing, and waits
// until the backend srv has accepted all of them (so every session is
// established).
func dialSilent(t *testing.T, r *runningListener, srv *testServer, n int) []*net.TCPConn {
	t.Helper()
	start := srv.accepts.Load()
	conns := make([]*net.TCPConn, n)
	for i := range conns {
		conns[i] = r.dial(t)
	}
	eventually(t, 10*time.Second, "the backend to accept every connection",
		func() bool { return srv.accepts.Load() == start+int64(n) })
	return conns
}

// closeAndCountFds closes conns and waits until the test process holds at
// most want fds (the proxy's and the backend's sockets of the sessions are
// closed too).
func closeAndCountFds(t *testing.T, conns []*net.TCPConn, want int) {
	t.Helper()
	for _, c := range conns {
		c.Close()
	}
	eventually(t, 5*time.Second, "the sessions' fds to be released", func() bool { return countFds(t) <= want })
}

// TestHandshakeTimeoutSilentClients checks that clients that connect and
// never send are closed after the handshake timeout, releasing their
// sessions and fds, while a client that spoke keeps its session.
func TestHandshakeTimeoutSilentClients(t *testing.T) {
	const n = 100
	const timeout = 300 * time.Millisecond
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.HandshakeTimeout = timeout
	r := startListener(t, cfg, 2)
	talker := r.dial(t)
	if _, err := roundTrip(talker, []byte("AMQP")); err != nil {
		t.Fatal(err)
	}
	base := countFds(t)

	start := time.Now()
	silent := dialSilent(t, r, srv, n)
	t.Logf("%d silent sessions hold %d fds in this process (clients, proxy, backend)", n, countFds(t)-base)
	for i, c := range silent {
		if err := waitClosed(c, 5*time.Second); err != nil {
			t.Fatalf("silent client %d: %v after %v (handshake timeout %v)", i, err, time.Since(start), timeout)
		}
	}
	t.Logf("all %d silent clients closed %v after the first connected (handshake timeout %v)", n, time.Since(start), timeout)
	eventually(t, 5*time.Second, "silent sessions to end", func() bool { return r.Snapshot().Active == 1 })
	if got := r.Snapshot().HandshakeTimeouts; got != n {
		t.Errorf("HandshakeTimeouts = %d, want %d", got, n)
	}
	if _, err := roundTrip(talker, []byte("still here")); err != nil {
		t.Errorf("the client that spoke lost its session: %v", err)
	}
	closeAndCountFds(t, silent, base)
}

// TestFinTimeoutAfterBackendClose is a broker closing silent clients (as
// RabbitMQ's handshake timeout does) that never close their side: the
// backend's FIN reaches the clients, and the half-closed sessions end after
// the FIN timeout.
func TestFinTimeoutAfterBackendClose(t *testing.T) {
	const n = 50
	const timeout = 300 * time.Millisecond
	release := make(chan struct{})
	srv := newServer(t, "127.0.0.2", func(c net.Conn) { <-release })
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	cfg := baseConfig(backendsOf(srv))
	cfg.HandshakeTimeout = -1 // only the FIN timeout is tested here
	cfg.FinTimeout = timeout
	r := startListener(t, cfg, 2)
	base := countFds(t)
	clients := dialSilent(t, r, srv, n)

	close(release) // the backend closes every connection
	released = true
	start := time.Now()
	for i, c := range clients {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client %d: read %v, want EOF (the backend's FIN)", i, err)
		}
	}
	eventually(t, 5*time.Second, "half-closed sessions to end", func() bool { return r.Snapshot().Active == 0 })
	t.Logf("%d half-closed sessions ended %v after the backend closed (FIN timeout %v)", n, time.Since(start), timeout)
	if got := r.Snapshot().FinTimeouts; got != n {
		t.Errorf("FinTimeouts = %d, want %d", got, n)
	}
	closeAndCountFds(t, clients, base)
}

// TestFinTimeoutIsInactivity checks that a half-closed session that keeps
// moving bytes outlives the FIN timeout: the timeout counts from the last
// byte moved.
func TestFinTimeoutIsInactivity(t *testing.T) {
	const chunks = 10
	const gap = 50 * time.Millisecond
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		io.Copy(io.Discard, c) // until the client's FIN
		for range chunks {
			if _, err := c.Write([]byte("chunk")); err != nil {
				return
			}
			time.Sleep(gap)
		}
	})
	cfg := baseConfig(backendsOf(srv))
	cfg.FinTimeout = 5 * gap
	r := startListener(t, cfg, 1)
	c := r.dial(t)
	c.Write([]byte("request"))
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != chunks*len("chunk") {
		t.Fatalf("got %d bytes over %v, want %d: the session was closed while bytes still moved (FIN timeout %v)",
			len(got), time.Since(start), chunks*len("chunk"), cfg.FinTimeout)
	}
	if n := r.Snapshot().FinTimeouts; n != 0 {
		t.Errorf("FinTimeouts = %d, want 0", n)
	}
}

// TestFinTimeoutWhileClientNotReading is a broker closing (heartbeat
// timeout) the connection of a client that no longer reads: the broker's
// last bytes and its FIN wait unread in the proxy behind a full path to
// the client, and the session still ends after the FIN timeout instead of
// holding its sockets, buffers and backend slot for ever.
func TestFinTimeoutWhileClientNotReading(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// The path to the client is kept short (small socket buffers on both
	// of its ends) and the broker writes in pieces smaller than a read of
	// the proxy, so that no pipe takes up what the client leaves: of
	// these bytes most wait in the proxy's receive queue, with the FIN.
	const pieces, piece = 64, 1000
	start := make(chan struct{})
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Errorf("backend reading the client's header: %v", err)
			return
		}
		<-start
		for i := range pieces {
			if _, err := c.Write(pattern(piece, byte(i))); err != nil {
				t.Errorf("backend writing: %v", err)
				return
			}
			time.Sleep(time.Millisecond) // one read of the proxy per piece
		}
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	})
	cfg := baseConfig(backendsOf(srv))
	cfg.FinTimeout = timeout
	r := startListener(t, cfg, 1)
	d := net.Dialer{Control: func(_, _ string, raw syscall.RawConn) error {
		var err error
		raw.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
		return err
	}}
	c, err := d.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("AMQP")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the backend to connect", func() bool { return srv.accepts.Load() == 1 })
	anySession(r, func(s *session) bool {
		unix.SetsockoptInt(s.cli.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
		return true
	})
	close(start)
	eventually(t, 10*time.Second, "the proxy to learn of the backend's FIN", func() bool {
		return anySession(r, func(s *session) bool { return s.srv.hup })
	})
	if anySession(r, func(s *session) bool { return s.s2c.ended }) {
		t.Fatal("the proxy read the backend's FIN: the client's path was not full, the case is not tested")
	}
	begin := time.Now()
	eventually(t, 5*time.Second, "the session to end", func() bool { return r.Snapshot().Active == 0 })
	t.Logf("session ended %v after the proxy learnt of the backend's FIN (FIN timeout %v)", time.Since(begin), timeout)
	if n := r.Snapshot().FinTimeouts; n != 1 {
		t.Errorf("FinTimeouts = %d, want 1", n)
	}
}

// TestHandshakeTimeoutSparesBytesOfTheTurn: a client whose first bytes
// arrive in the turn its handshake timeout falls due (after the loop's
// wait returned, before its timers ran) is not closed as silent: its bytes
// are read and passed on. The loop is held while the bytes arrive, and the
// rest of its turn runs at the handshake deadline.
func TestHandshakeTimeoutSparesBytesOfTheTurn(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.HandshakeTimeout = time.Hour // due only when the test says so
	r := startListener(t, cfg, 1)
	c := dialSilent(t, r, srv, 1)[0]
	eventually(t, 5*time.Second, "the session to be established", func() bool {
		return anySession(r, func(s *session) bool { return s.state == stateEstablished })
	})
	h := holdLoop(t, r)
	s := h.lp.head
	if _, err := c.Write([]byte("AMQP")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the client's bytes to reach the proxy", func() bool { return queuedIn(s.cli.fd) == 4 })
	h.let(func(lp *loop) { lp.now = s.deadlines().handshake })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "AMQP" {
		t.Errorf("client read %q, %v; want its bytes echoed by the backend", buf, err)
	}
	if n := r.Snapshot().HandshakeTimeouts; n != 0 {
		t.Errorf("HandshakeTimeouts = %d, want 0", n)
	}
	if _, err := roundTrip(c, []byte("still here")); err != nil {
		t.Errorf("the client lost its session: %v", err)
	}
}
