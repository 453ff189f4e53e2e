package balancer

import (
	"io"
	"net"
	"testing"
	"time"
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
