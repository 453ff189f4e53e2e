package balancer

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	rbackend "github.com/rmqlb/rmqlb/backend"

	"github.com/rmqlb/rmqlb/proxyproto"
	"golang.org/x/sys/unix"
)

func TestHalfCloseClientFirst(t *testing.T) {
	// The client sends a request and half-closes; the server reads to EOF,
	// then answers and closes. The answer must arrive after the client's
	// FIN went through.
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		req, _ := io.ReadAll(c)
		c.Write(append([]byte("got:"), req...))
	})
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	c.Write([]byte("request"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "got:request" {
		t.Fatalf("got %q", got)
	}
}

func TestHalfCloseServerFirst(t *testing.T) {
	// The server sends a greeting and half-closes; the client reads to EOF,
	// then sends and closes; the server must get all of it.
	received := make(chan []byte, 1)
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		c.Write([]byte("hello"))
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		received <- b
	})
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	// The session must still carry the other direction.
	payload := bytes.Repeat([]byte("x"), 1<<20)
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case b := <-received:
		if !bytes.Equal(b, payload) {
			t.Fatalf("server got %d bytes, want %d", len(b), len(payload))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not get the client's data and EOF")
	}
	eventually(t, 5*time.Second, "session to end", func() bool { return r.Snapshot().Active == 0 })
}

func TestRedispatch(t *testing.T) {
	srv := newServer(t, "127.0.0.3", echo)
	dead := unusedAddr(t, "127.0.0.2")
	cfg := baseConfig([]BackendConfig{
		{Name: "dead", Address: dead, Weight: 1},
		{Name: "live", Address: srv.addr, Weight: 1},
	})
	cfg.Retries = 1
	r := startListener(t, cfg, 1)
	for i := range 4 {
		c := r.dial(t)
		if _, err := roundTrip(c, []byte("ping")); err != nil {
			t.Fatalf("connection %d: %v (should have been redispatched)", i, err)
		}
		c.Close()
	}
	s := r.Snapshot()
	if f := backendSnap(s, "dead").ConnectFailures; f == 0 {
		t.Errorf("no connect failure counted on the dead backend")
	}
	if n := backendSnap(s, "live").Total; n != 4 {
		t.Errorf("live backend has %d sessions, want 4", n)
	}
	if s.NoBackend != 0 {
		t.Errorf("NoBackend = %d, want 0", s.NoBackend)
	}
}

func TestAllBackendsFail(t *testing.T) {
	cfg := baseConfig([]BackendConfig{
		{Name: "a", Address: unusedAddr(t, "127.0.0.2"), Weight: 1},
		{Name: "b", Address: unusedAddr(t, "127.0.0.3"), Weight: 1},
	})
	cfg.Retries = 5
	r := startListener(t, cfg, 1)
	c := r.dial(t)
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s := r.Snapshot()
	if s.NoBackend != 1 || backendSnap(s, "a").ConnectFailures != 1 || backendSnap(s, "b").ConnectFailures != 1 {
		t.Errorf("snapshot %+v: want one failure per backend (each tried once) and NoBackend 1", s)
	}
	eventually(t, 5*time.Second, "session to end", func() bool { return r.Snapshot().Active == 0 })
}

// blackhole returns a loopback address whose connects hang: a listening
// socket with a full accept queue that is never accepted from drops SYNs.
func blackhole(t *testing.T) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 4}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := fromSockaddr(sa)
	// Fill the accept queue (backlog 0 admits one).
	for range 2 {
		c, err := net.DialTimeout("tcp", addr.String(), 200*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

func TestConnectTimeoutRedispatch(t *testing.T) {
	srv := newServer(t, "127.0.0.3", echo)
	cfg := baseConfig([]BackendConfig{
		{Name: "hang", Address: blackhole(t), Weight: 1},
		{Name: "live", Address: srv.addr, Weight: 1},
	})
	cfg.ConnectTimeout = 200 * time.Millisecond
	cfg.Retries = 1
	r := startListener(t, cfg, 1)
	c := r.dial(t) // round robin: the first goes to "hang"
	if _, err := roundTrip(c, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	s := r.Snapshot()
	if backendSnap(s, "hang").ConnectFailures != 1 || backendSnap(s, "live").Total != 1 {
		t.Errorf("snapshot %+v: want one timeout on hang and the session on live", s)
	}
}

func TestMaxConnListener(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.MaxConn = 2
	r := startListener(t, cfg, 1)
	for range 2 {
		if _, err := roundTrip(r.dial(t), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	c := r.dial(t)
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatalf("third connection: %v; want it refused", err)
	}
	if s := r.Snapshot(); s.Refused != 1 || s.Active != 2 || s.MaxConn != 2 {
		t.Errorf("refused %d active %d maxconn %d, want 1, 2 and 2", s.Refused, s.Active, s.MaxConn)
	}
	if n := srv.accepts.Load(); n != 2 {
		t.Errorf("backend saw %d connections, want 2", n)
	}
}

func TestMaxConnBackend(t *testing.T) {
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	bcs := backendsOf(a, b)
	bcs[0].MaxConn = 1
	bcs[1].MaxConn = 1
	r := startListener(t, baseConfig(bcs), 1)
	for i := range 2 {
		if s := r.Snapshot(); backendSnap(s, "a").Full != (i > 0) || backendSnap(s, "b").Full {
			t.Errorf("after %d sessions: full a %v b %v, want %v false", i, backendSnap(s, "a").Full, backendSnap(s, "b").Full, i > 0)
		}
		if _, err := roundTrip(r.dial(t), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitClosed(r.dial(t), 5*time.Second); err != nil {
		t.Fatalf("third connection: %v; want it refused", err)
	}
	s := r.Snapshot()
	if s.Refused != 1 || backendSnap(s, "a").Active != 1 || backendSnap(s, "b").Active != 1 {
		t.Errorf("snapshot %+v", s)
	}
	if !backendSnap(s, "a").Full || !backendSnap(s, "b").Full || s.MaxConn != 0 {
		t.Errorf("full a %v b %v, listener maxconn %d: want true, true, 0", backendSnap(s, "a").Full, backendSnap(s, "b").Full, s.MaxConn)
	}
	// A backend at its maxconn that cannot serve anyway is not full.
	if err := r.SetBackendState("b", rbackend.Drain, "test"); err != nil {
		t.Fatal(err)
	}
	if backendSnap(r.Snapshot(), "b").Full {
		t.Error("b drained at its maxconn: full, want not")
	}
}

func TestShutdownSessionsOnDown(t *testing.T) {
	for _, shut := range []bool{true, false} {
		srv := newServer(t, "127.0.0.2", echo)
		other := newServer(t, "127.0.0.3", echo)
		cfg := baseConfig(backendsOf(srv, other))
		cfg.ShutdownSessionsOnDown = shut
		r := startListener(t, cfg, 2)
		c := r.dial(t) // round robin: a
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := r.SetBackendState("a", rbackend.Down, "test"); err != nil {
			t.Fatal(err)
		}
		if shut {
			if err := waitClosed(c, 5*time.Second); err != nil {
				t.Fatalf("shutdown-sessions: %v", err)
			}
		} else {
			if _, err := roundTrip(c, []byte("still")); err != nil {
				t.Fatalf("keep-sessions: %v", err)
			}
		}
		// New connections go to b.
		c2 := r.dial(t)
		roundTrip(c2, []byte("y"))
		if n := other.accepts.Load(); n != 1 {
			t.Errorf("shut=%v: other backend got %d connections, want 1", shut, n)
		}
		snap := backendSnap(r.Snapshot(), "a")
		if snap.State != rbackend.Down || snap.LastChangeReason != "test" {
			t.Errorf("snapshot of a: %+v", snap)
		}
		r.stop(t)
	}
}

// TestDownRedispatchesConnecting: a client whose connection to a backend
// is still being set up when the backend is marked DOWN (or removed) is
// sent to another backend, even with no retry configured, and the backend
// is not charged a connect failure for it.
func TestDownRedispatchesConnecting(t *testing.T) {
	for _, remove := range []bool{false, true} {
		other := newServer(t, "127.0.0.3", echo)
		cfg := baseConfig([]BackendConfig{{Name: "a", Address: blackhole(t), Weight: 1}, {Name: "b", Address: other.addr, Weight: 1}})
		cfg.ConnectTimeout = time.Minute
		cfg.Retries = 0
		r := startListener(t, cfg, 1)
		c := r.dial(t) // round robin: a, where the connect hangs
		eventually(t, 5*time.Second, "a connecting", func() bool { return backendSnap(r.Snapshot(), "a").Active == 1 })
		if remove {
			cfg2 := cfg
			cfg2.Backends = cfg.Backends[1:]
			if err := r.Apply(cfg2); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := r.SetBackendState("a", rbackend.Down, "test"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatalf("remove=%v: client connecting to a when it left: %v (want it redispatched to b)", remove, err)
		}
		if other.accepts.Load() != 1 {
			t.Errorf("remove=%v: b accepted %d connections, want 1", remove, other.accepts.Load())
		}
		if n := backendSnap(r.Snapshot(), "a").ConnectFailures; !remove && n != 0 {
			t.Errorf("a marked down: %d connect failures, want 0", n)
		}
		if s := r.Snapshot(); s.NoBackend != 0 {
			t.Errorf("remove=%v: %d clients failed for no backend, want 0", remove, s.NoBackend)
		}
		r.stop(t)
	}
}

func TestDrainWeightZero(t *testing.T) {
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	cfg := baseConfig(backendsOf(a, b))
	cfg.Policy = PolicyWRR
	r := startListener(t, cfg, 1)
	c := r.dial(t) // wrr 1,1: a first
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := r.SetBackendWeight("a", 0); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c := r.dial(t)
		if _, err := roundTrip(c, []byte("y")); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if n := a.accepts.Load(); n != 1 {
		t.Errorf("drained backend got %d connections, want 1", n)
	}
	if _, err := roundTrip(c, []byte("still here")); err != nil {
		t.Errorf("session on drained backend: %v", err)
	}
	// Drain state behaves the same.
	r.SetBackendWeight("a", 1)
	r.SetBackendState("b", rbackend.Drain, "maintenance")
	for range 3 {
		c := r.dial(t)
		roundTrip(c, []byte("z"))
		c.Close()
	}
	if n := b.accepts.Load(); n != 5 {
		t.Errorf("draining backend got %d connections, want 5", n)
	}
}

// proxyHeaderListener starts a backend on 127.0.0.2 that reads a PROXY
// protocol header from each connection, sends it on the returned channel
// (buffered for one) and then echoes; and in front of it a one-loop
// listener whose baseConfig configure may change first. A connection
// without a valid header fails t and is closed.
func proxyHeaderListener(t *testing.T, configure func(*Config)) (*runningListener, <-chan proxyproto.Header) {
	t.Helper()
	headers := make(chan proxyproto.Header, 1)
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		h, err := proxyproto.ReadHeader(c)
		if err != nil {
			t.Errorf("reading header: %v", err)
			return
		}
		headers <- h
		echo(c)
	})
	cfg := baseConfig(backendsOf(srv))
	configure(&cfg)
	return startListener(t, cfg, 1), headers
}

func TestProxyProtocolHeaders(t *testing.T) {
	for _, v := range []proxyproto.Version{proxyproto.V1, proxyproto.V2} {
		t.Run(v.String(), func(t *testing.T) {
			r, headers := proxyHeaderListener(t, func(cfg *Config) { cfg.Backends[0].ProxyProtocol = v })
			c := r.dial(t)
			if _, err := roundTrip(c, []byte("AMQP")); err != nil {
				t.Fatal(err)
			}
			h := <-headers
			if proxyproto.Version(h.Version) != v || h.Command != proxyproto.CommandProxy {
				t.Errorf("header %+v", h)
			}
			if got, want := h.Source.String(), c.LocalAddr().String(); got != want {
				t.Errorf("source %s, want the client's %s", got, want)
			}
			if h.Destination != r.Addr() {
				t.Errorf("destination %s, want the listener's %s", h.Destination, r.Addr())
			}
		})
	}
}

// TestProxyProtocolPerBackend: each backend gets its own setting; one with
// none gets the client's bytes only, although the others send headers.
func TestProxyProtocolPerBackend(t *testing.T) {
	got := make(chan []byte, 2)
	plain := newServer(t, "127.0.0.3", func(c net.Conn) {
		defer c.Close()
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err == nil {
			got <- b
		}
		c.Write(b)
	})
	r, headers := proxyHeaderListener(t, func(cfg *Config) {
		cfg.Policy = PolicyRoundRobin
		cfg.Backends[0].ProxyProtocol = proxyproto.V2
		cfg.Backends = append(cfg.Backends, BackendConfig{Name: "plain", Address: plain.addr, Weight: 1, ProxyProtocol: proxyproto.None})
	})
	for range 2 {
		if _, err := roundTrip(r.dial(t), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if h := <-headers; h.Version != 2 {
		t.Errorf("version %d, want the backend's 2", h.Version)
	}
	if b := <-got; string(b) != "x" {
		t.Errorf("the backend without PROXY protocol got %q first, want the client's byte", b)
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.IdleTimeout = 150 * time.Millisecond
	r := startListener(t, cfg, 1)
	c := r.dial(t)
	// Activity keeps it open past the timeout.
	for range 4 {
		if _, err := roundTrip(c, []byte("beat")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatalf("idle session: %v", err)
	}
}

func TestGracefulStop(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.GracefulTimeout = 10 * time.Second
	r := startListener(t, cfg, 2)
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	addr := r.Addr().String()
	r.cancel()
	eventually(t, 5*time.Second, "listener to stop accepting", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	// The session still works during the grace period.
	if _, err := roundTrip(c, []byte("during grace")); err != nil {
		t.Fatalf("session during graceful stop: %v", err)
	}
	select {
	case <-r.done:
		t.Fatal("Run returned while a session was open")
	default:
	}
	c.CloseWrite()
	io.ReadAll(c)
	select {
	case err := <-r.done:
		r.once.Do(func() {})
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the last session ended")
	}
}

func TestGracefulTimeoutClosesRest(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.GracefulTimeout = 100 * time.Millisecond
	r := startListener(t, cfg, 2)
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	r.stop(t)
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestNoFdLeak(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	dead := unusedAddr(t, "127.0.0.3")
	bcs := append(backendsOf(srv), BackendConfig{Name: "dead", Address: dead, Weight: 1})
	before := countFds(t)
	cfg := baseConfig(bcs)
	r := startListener(t, cfg, 2)
	var conns []net.Conn
	for i := range 50 {
		c := r.dial(t)
		if _, err := roundTrip(c, bytes.Repeat([]byte{byte(i)}, 100_000)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Idle sessions hold no pipe and no buffer.
	if held := heldBuffers(r); held != 0 {
		t.Errorf("%d pipes or buffers held by idle sessions, want 0", held)
	}
	for i, c := range conns {
		if i%2 == 0 {
			c.Close()
		}
	}
	r.stop(t)
	for _, c := range conns {
		c.Close()
	}
	srv.close()
	eventually(t, 5*time.Second, "fds to return to the starting count", func() bool { return countFds(t) <= before })
}

// TestApplyKeepsSessions: with keep-sessions, the sessions of a backend
// removed by a reload stay until their clients end them.
func TestApplyKeepsSessions(t *testing.T) {
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	cfg := baseConfig(backendsOf(a))
	cfg.ShutdownSessionsOnDown = false
	r := startListener(t, cfg, 1)
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Replace a with b.
	cfg2 := baseConfig([]BackendConfig{{Name: "b", Address: b.addr, Weight: 1}})
	cfg2.ShutdownSessionsOnDown = false
	if err := r.Apply(cfg2); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(c, []byte("still")); err != nil {
		t.Fatalf("session after reload: %v", err)
	}
	c2 := r.dial(t)
	if _, err := roundTrip(c2, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if b.accepts.Load() != 1 || a.accepts.Load() != 1 {
		t.Errorf("accepts a=%d b=%d, want 1 and 1", a.accepts.Load(), b.accepts.Load())
	}
	if s := r.Snapshot(); len(s.Backends) != 1 || s.Backends[0].Name != "b" {
		t.Errorf("snapshot backends %+v", s.Backends)
	}
	c.Close()
	eventually(t, 5*time.Second, "session to end", func() bool { return r.Snapshot().Active == 1 })
}

// TestApplyRemovedBackendShutdown: with shutdown-sessions, a reload that
// removes a backend closes its sessions at once (its clients reconnect to
// the backends that stay) and leaves the others' sessions alone.
func TestApplyRemovedBackendShutdown(t *testing.T) {
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: a.addr, Weight: 1}, {Name: "b", Address: b.addr, Weight: 1}})
	cfg.Policy = PolicyRoundRobin
	cfg.ShutdownSessionsOnDown = true
	r := startListener(t, cfg, 1)
	ca, cb := r.dial(t), r.dial(t)
	for _, c := range []net.Conn{ca, cb} {
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if a.accepts.Load() != 1 || b.accepts.Load() != 1 {
		t.Fatalf("accepts a=%d b=%d, want one each", a.accepts.Load(), b.accepts.Load())
	}
	cfg2 := cfg
	cfg2.Backends = cfg.Backends[1:] // remove a
	if err := r.Apply(cfg2); err != nil {
		t.Fatal(err)
	}
	// Round robin sent the first client to a.
	if err := waitClosed(ca, 5*time.Second); err != nil {
		t.Fatalf("session of the removed backend: %v", err)
	}
	if _, err := roundTrip(cb, []byte("still")); err != nil {
		t.Fatalf("session of the backend that stays: %v", err)
	}
	eventually(t, 5*time.Second, "the removed backend's session to end", func() bool { return r.Snapshot().Active == 1 })
}

func TestKeepAliveBothSides(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.KeepAlive = 42 * time.Second
	r := startListener(t, cfg, 1)
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	type opts struct{ ka, idle, nodelay int }
	type seen struct {
		o   [2]opts
		age time.Duration // how long the session has been established
	}
	r.mu.Lock()
	lp := r.loops[0]
	r.mu.Unlock()
	readAt := func() seen {
		got := make(chan seen, 1)
		lp.post(func(lp *loop) {
			s := lp.head
			var v seen
			for i, fd := range []int{s.cli.fd, s.srv.fd} {
				v.o[i].ka, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
				v.o[i].idle, _ = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
				v.o[i].nodelay, _ = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
			}
			v.age = time.Since(lp.epoch) - s.established
			got <- v
		})
		return <-got
	}
	read := func() [2]opts { return readAt().o }
	start := time.Now()
	v := readAt()
	o := v.o
	// The client side inherits everything from the listening socket; the
	// server side has TCP_NODELAY at once and keepalive keepAliveDelay
	// after it is established.
	if o[0] != (opts{1, 42, 1}) {
		t.Errorf("client side: keepalive %d idle %d nodelay %d, want 1 42 1", o[0].ka, o[0].idle, o[0].nodelay)
	}
	if o[1].nodelay != 1 {
		t.Errorf("server side: nodelay %d, want 1", o[1].nodelay)
	}
	if o[1].ka != 0 && v.age < keepAliveDelay {
		t.Errorf("server side: keepalive set %v after the session was established, before keepAliveDelay (%v)", v.age, keepAliveDelay)
	}
	eventually(t, keepAliveDelay+5*time.Second, "keepalive on the server side", func() bool { return read()[1] == (opts{1, 42, 1}) })
	t.Logf("server side keepalive set after %v (keepAliveDelay %v)", time.Since(start), keepAliveDelay)
}

func TestIPv6Listener(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	r, headers := proxyHeaderListener(t, func(cfg *Config) {
		cfg.Bind = netip.MustParseAddrPort("[::1]:0")
		cfg.Backends[0].ProxyProtocol = proxyproto.V1
	})
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("v6")); err != nil {
		t.Fatal(err)
	}
	if h := <-headers; h.Family != proxyproto.FamilyInet6 || h.Source.Addr() != netip.MustParseAddr("::1") {
		t.Errorf("header %+v, want TCP6 from ::1", h)
	}
}

func TestFreebindNonLocalAddress(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is not an address of this host; with
	// IP_FREEBIND the listener binds anyway, as it must for a VIP that
	// another node owns. Nothing is sent.
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: netip.MustParseAddrPort("127.0.0.2:1"), Weight: 1}})
	cfg.Bind = netip.MustParseAddrPort("192.0.2.1:0")
	r := startListener(t, cfg, 1)
	if a := r.Addr(); a.Addr() != cfg.Bind.Addr() || a.Port() == 0 {
		t.Errorf("bound %s", a)
	}
	if !r.Snapshot().Listening {
		t.Error("snapshot says not listening")
	}
}

func TestPersistenceOverLoopback(t *testing.T) {
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	cfg := baseConfig(backendsOf(a, b))
	cfg.PersistenceTimeout = time.Minute
	r := startListener(t, cfg, 2)
	var conns []net.Conn
	for range 6 {
		c := r.dial(t)
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if a.accepts.Load() != 6 {
		t.Fatalf("accepts a=%d b=%d; one client address must stick to one backend", a.accepts.Load(), b.accepts.Load())
	}
	r.SetBackendState("a", rbackend.Down, "test")
	for _, c := range conns {
		if err := waitClosed(c, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	r.SetBackendState("a", rbackend.Up, "test")
	for range 3 {
		if _, err := roundTrip(r.dial(t), []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	if b.accepts.Load() != 3 || a.accepts.Load() != 6 {
		t.Errorf("after a went down and up: accepts a=%d b=%d, want 6 and 3 (re-pinned to b)", a.accepts.Load(), b.accepts.Load())
	}
}

// heldBuffers counts the pipes and stash buffers held by the sessions of
// every loop (asked on the loops' own goroutines).
func heldBuffers(r *runningListener) int {
	r.mu.Lock()
	loops := r.loops
	r.mu.Unlock()
	n := 0
	var mu sync.Mutex
	r.broadcast(loops, func(lp *loop) {
		k := 0
		for s := lp.head; s != nil; s = s.next {
			for _, h := range []*half{&s.c2s, &s.s2c} {
				if h.p != nil || h.buf != nil {
					k++
				}
			}
		}
		mu.Lock()
		n += k
		mu.Unlock()
	})
	return n
}
