package balancer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"
)

// testServer is a real TCP server on a loopback address, running handler on
// each connection. It counts connections and closes everything on cleanup.
type testServer struct {
	t       testing.TB
	ln      net.Listener
	addr    netip.AddrPort
	handler func(net.Conn)
	accepts atomic.Int64
	mu      sync.Mutex
	conns   map[net.Conn]bool
	wg      sync.WaitGroup
}

func newServer(t testing.TB, ip string, handler func(net.Conn)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()),
		handler: handler, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepts.Add(1)
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handler(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *testServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// echo copies everything back and half-closes after the client's EOF. It
// hides the TCPConn's ReadFrom so that Go does not splice: Go's splice
// pipes are closed by finalizers, which would blur the fd counts of
// TestNoFdLeak.
func echo(c net.Conn) {
	io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 32<<10))
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, struct{ io.Reader }{c})
}

// unusedAddr returns a loopback address:port where nothing listens.
func unusedAddr(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return a
}

func backendsOf(servers ...*testServer) []BackendConfig {
	var out []BackendConfig
	for i, s := range servers {
		out = append(out, BackendConfig{Name: string(rune('a' + i)), Address: s.addr, Weight: 1})
	}
	return out
}

func baseConfig(backends []BackendConfig) Config {
	return Config{
		Name:                   "test",
		Bind:                   netip.MustParseAddrPort("127.0.0.1:0"),
		Policy:                 PolicyRoundRobin,
		ConnectTimeout:         2 * time.Second,
		Retries:                2,
		ShutdownSessionsOnDown: true,
		GracefulTimeout:        -1,
		Backends:               backends,
	}
}

// runningListener is a Listener served by Run in a goroutine owned by the test.
type runningListener struct {
	*Listener
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startListener runs a Listener for cfg with the given number of loops;
// each of opts may change it before Run (set its clock, for instance).
func startListener(t testing.TB, cfg Config, loops int, opts ...func(*Listener)) *runningListener {
	t.Helper()
	return startRegistered(t, cfg, nil, loops, opts...)
}

// startRegistered is startListener with the listener's metrics on reg
// (none when nil).
func startRegistered(t testing.TB, cfg Config, reg prometheus.Registerer, loops int, opts ...func(*Listener)) *runningListener {
	t.Helper()
	var log *zap.Logger
	if tt, ok := t.(*testing.T); ok && os.Getenv("BALANCER_TEST_LOG") != "" {
		log = zaptest.NewLogger(tt)
	}
	l, err := NewListener(cfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	l.loopCount = loops
	for _, o := range opts {
		o(l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningListener{Listener: l, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- l.Run(ctx) }()
	select {
	case <-l.Ready():
	case err := <-r.done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it (idempotent).
func (r *runningListener) stop(t testing.TB) {
	r.cancel()
	r.once.Do(func() {
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return")
		}
	})
}

func (r *runningListener) dial(t testing.TB) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads len(msg) bytes back within a few seconds.
func roundTrip(c net.Conn, msg []byte) ([]byte, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return buf, err
}

// waitClosed waits until the peer closes c (EOF or reset).
func waitClosed(c net.Conn, within time.Duration) error {
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errors.New("connection still open")
		}
		return nil
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func countFds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func backendSnap(s Snapshot, name string) BackendSnapshot {
	for _, b := range s.Backends {
		if b.Name == name {
			return b
		}
	}
	return BackendSnapshot{}
}

// heldLoop is r's only event loop held in the middle of a turn (holdLoop):
// until release it reads no socket and fires no timer, so that bytes, FINs
// and resets arrive on its sockets unprocessed and its next turn finds
// them together. While it is held, the test goroutine may read the loop's
// state (the channels order it after the loop's writes).
type heldLoop struct {
	lp      *loop
	release chan func(*loop)
	done    chan struct{}
	once    sync.Once
}

// holdLoop holds r's only loop until the returned heldLoop's release (or
// the test's cleanup, which runs before the listener's stop).
func holdLoop(t testing.TB, r *runningListener) *heldLoop {
	t.Helper()
	r.mu.Lock()
	loops := r.loops
	r.mu.Unlock()
	if len(loops) != 1 {
		t.Fatalf("holding the loop of a listener with %d loops", len(loops))
	}
	h := &heldLoop{release: make(chan func(*loop)), done: make(chan struct{})}
	held := make(chan *loop)
	if !loops[0].post(func(lp *loop) {
		held <- lp
		if fn := <-h.release; fn != nil {
			fn(lp)
		}
		close(h.done)
	}) {
		t.Fatal("the loop has exited")
	}
	h.lp = <-held
	t.Cleanup(func() { h.let(nil) })
	return h
}

// let runs fn (if not nil) on the held loop, where its turn stands, and
// lets the loop carry on with that turn.
func (h *heldLoop) let(fn func(*loop)) {
	h.once.Do(func() {
		h.release <- fn
		<-h.done
	})
}

// queuedIn returns how many bytes wait unread in fd's receive queue.
func queuedIn(fd int) int {
	n, _ := unix.IoctlGetInt(fd, unix.SIOCINQ)
	return n
}

// unsentOut returns how many bytes written to fd its kernel has not sent
// yet (the peer's window is full).
func unsentOut(fd int) int {
	n, _ := unix.IoctlGetInt(fd, unix.SIOCOUTQNSD)
	return n
}

// wasReset reports whether fd's connection is closed (TCP_CLOSE), as it
// is once its peer's reset has arrived.
func wasReset(fd int) bool {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	const tcpClose = 7 // TCP_CLOSE, include/net/tcp_states.h
	return err == nil && ti.State == tcpClose
}
