package balancer

import (
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// endSink is a zap core that hands every "session ended" line, as a map of
// its fields (the logger's included), to the test: waiting for a line
// waits for the event, not for time to pass.
type endSink struct {
	lines  chan map[string]any
	fields []zapcore.Field
}

func (c *endSink) Enabled(zapcore.Level) bool { return true }

func (c *endSink) With(f []zapcore.Field) zapcore.Core {
	return &endSink{lines: c.lines, fields: append(slices.Clip(c.fields), f...)}
}

func (c *endSink) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == "session ended" {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *endSink) Write(e zapcore.Entry, f []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, x := range append(slices.Clip(c.fields), f...) {
		x.AddTo(enc)
	}
	enc.Fields["level"] = e.Level
	c.lines <- enc.Fields
	return nil
}

func (c *endSink) Sync() error { return nil }

// loggedListener is a running listener that logs its sessions into sink.
type loggedListener struct {
	*runningListener
	sink *endSink
}

// startLogged runs a listener for cfg with LogSessions on, one loop, and
// its "session ended" lines going to the returned sink.
func startLogged(t *testing.T, cfg Config) *loggedListener {
	t.Helper()
	cfg.LogSessions = true
	sink := &endSink{lines: make(chan map[string]any, 1000)}
	r := startListener(t, cfg, 1, func(l *Listener) { l.log = zap.New(sink).With(zap.String("listener", cfg.Name)) })
	return &loggedListener{runningListener: r, sink: sink}
}

// next returns the next "session ended" line; it fails the test if none
// comes within 10 s.
func (r *loggedListener) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m := <-r.sink.lines:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no session ended within 10 s")
		return nil
	}
}

// wantEnd reads the next line and checks its reason, byte counts, client
// and backend (be nil: a line without a backend).
func (r *loggedListener) wantEnd(t *testing.T, why EndReason, toBackend, toClient uint64, client net.Conn, be *testServer) map[string]any {
	t.Helper()
	m := r.next(t)
	if m["reason"] != why.String() {
		t.Errorf("reason %v, want %v (line %v)", m["reason"], why, m)
	}
	if m["level"] != zapcore.InfoLevel || m["listener"] != "test" {
		t.Errorf("level %v, listener %v", m["level"], m["listener"])
	}
	if m["bytes_to_backend"] != toBackend || m["bytes_to_client"] != toClient {
		t.Errorf("bytes to backend %v, to client %v; want %d and %d", m["bytes_to_backend"], m["bytes_to_client"], toBackend, toClient)
	}
	if client != nil && m["client"] != client.LocalAddr().String() {
		t.Errorf("client %v, want %v", m["client"], client.LocalAddr())
	}
	if be == nil {
		if _, ok := m["backend"]; ok {
			t.Errorf("a backend without one: %v", m)
		}
	} else if m["backend"] != "a" || m["backend_addr"] != be.addr.String() {
		t.Errorf("backend %v at %v, want a at %v", m["backend"], m["backend_addr"], be.addr)
	}
	if d, ok := m["duration"].(time.Duration); !ok || d < 0 {
		t.Errorf("duration %v", m["duration"])
	}
	return m
}

// established dials r and makes one round trip of msg (so the session is
// established and has moved len(msg) bytes each way).
func established(t *testing.T, r *loggedListener, msg string) *net.TCPConn {
	t.Helper()
	c := r.dial(t)
	if got, err := roundTrip(c, []byte(msg)); err != nil || string(got) != msg {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	return c
}

// TestSessionLogClosed: the side that closes first is the reason, with
// the bytes each way.
func TestSessionLogClosed(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startLogged(t, baseConfig(backendsOf(srv)))
	// The client closes: its FIN goes to the broker, which closes too.
	c := established(t, r, "hello")
	c.CloseWrite()
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	r.wantEnd(t, EndClientClosed, 5, 5, c, srv)

	// The broker speaks first and closes.
	banner := newServer(t, "127.0.0.3", func(c net.Conn) { c.Write([]byte("banner")) })
	r = startLogged(t, baseConfig(backendsOf(banner)))
	c = r.dial(t)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); string(b) != "banner" || err != nil {
		t.Fatalf("banner %q, %v", b, err)
	}
	c.CloseWrite()
	r.wantEnd(t, EndBrokerClosed, 0, 6, c, banner)
}

// TestSessionLogReset: a side that resets is the reason, also after the
// other side closed; the bytes before the reset are counted.
func TestSessionLogReset(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startLogged(t, baseConfig(backendsOf(srv)))
	c := established(t, r, "abc")
	c.SetLinger(0)
	c.Close()
	r.wantEnd(t, EndClientReset, 3, 3, nil, srv)

	// The broker reads 4 bytes and resets.
	rst := newServer(t, "127.0.0.3", func(c net.Conn) {
		io.ReadFull(c, make([]byte, 4))
		c.(*net.TCPConn).SetLinger(0)
	})
	r = startLogged(t, baseConfig(backendsOf(rst)))
	c = r.dial(t)
	c.Write([]byte("1234"))
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	r.wantEnd(t, EndBrokerReset, 4, 0, c, rst)

	// The client closes first; the broker then resets.
	late := newServer(t, "127.0.0.4", func(c net.Conn) {
		io.Copy(io.Discard, c)
		c.(*net.TCPConn).SetLinger(0)
	})
	r = startLogged(t, baseConfig(backendsOf(late)))
	c = r.dial(t)
	c.Write([]byte("12"))
	c.CloseWrite()
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	r.wantEnd(t, EndBrokerReset, 2, 0, c, late)
}

// TestSessionLogBackend: sessions shut because their backend went down or
// was removed say so.
func TestSessionLogBackend(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	other := newServer(t, "127.0.0.3", echo)
	cfg := baseConfig(backendsOf(srv, other))
	r := startLogged(t, cfg)
	c := established(t, r, "x") // round robin: a first
	if err := r.SetBackendState("a", rbackend.Down, "test"); err != nil {
		t.Fatal(err)
	}
	r.wantEnd(t, EndBackendDown, 1, 1, c, srv)

	if err := r.SetBackendState("a", rbackend.Up, "test"); err != nil {
		t.Fatal(err)
	}
	var onA *net.TCPConn
	for onA == nil { // round robin: one of two dials lands on a
		c := established(t, r, "yz")
		if s := backendSnap(r.Snapshot(), "a"); s.Active == 1 {
			onA = c
		}
	}
	cfg.Backends = cfg.Backends[1:]
	cfg.LogSessions = true // Apply turns it off otherwise
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	r.wantEnd(t, EndBackendRemoved, 2, 2, onA, srv)
}

// TestSessionLogTimeouts: each session timeout is its own reason.
func TestSessionLogTimeouts(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.HandshakeTimeout = 100 * time.Millisecond
	r := startLogged(t, cfg)
	c := r.dial(t) // says nothing
	r.wantEnd(t, EndHandshakeTimeout, 0, 0, c, srv)

	cfg.HandshakeTimeout, cfg.IdleTimeout = -1, 100*time.Millisecond
	r = startLogged(t, cfg)
	c = established(t, r, "idle")
	r.wantEnd(t, EndIdleTimeout, 4, 4, c, srv)

	// The client half-closes; the broker never does.
	release := make(chan struct{})
	hold := newServer(t, "127.0.0.3", func(c net.Conn) { io.Copy(io.Discard, c); <-release })
	t.Cleanup(func() { close(release) }) // before the server's cleanup
	cfg = baseConfig(backendsOf(hold))
	cfg.FinTimeout = 100 * time.Millisecond
	r = startLogged(t, cfg)
	c = r.dial(t)
	c.Write([]byte("bye"))
	c.CloseWrite()
	r.wantEnd(t, EndFinTimeout, 3, 0, c, hold)
}

// TestFinTimeoutFromTheEnd: the FIN timeout counts from when the session
// began to end, not from the last byte: a session idle for longer than it
// whose client half-closes still gets the broker's answer to the FIN, and
// ends as the client's close, not as a FIN timeout.
func TestFinTimeoutFromTheEnd(t *testing.T) {
	// The broker answers the client's FIN, then closes.
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		io.Copy(io.Discard, c)
		c.Write([]byte("bye"))
	})
	cfg := baseConfig(backendsOf(srv))
	cfg.FinTimeout = 200 * time.Millisecond
	r := startLogged(t, cfg)
	c := r.dial(t)
	c.Write([]byte("hi"))
	time.Sleep(2 * cfg.FinTimeout) // the session idles past the FIN timeout
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(c); string(got) != "bye" || err != nil {
		t.Errorf("the broker's answer to the client's FIN: %q, %v; want \"bye\"", got, err)
	}
	r.wantEnd(t, EndClientClosed, 2, 3, c, srv)
	if n := r.Snapshot().FinTimeouts; n != 0 {
		t.Errorf("%d FIN timeouts counted, want 0", n)
	}
}

// TestSessionLogStop: the listener's stop closes its sessions with reason
// stop.
func TestSessionLogStop(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startLogged(t, baseConfig(backendsOf(srv)))
	c := established(t, r, "stop")
	r.stop(t)
	r.wantEnd(t, EndStop, 4, 4, c, srv)
}

// TestSessionLogUpgrade: after HandOver, the sessions the stop closes end
// with reason upgrade: those left when the grace period ends, and those
// closed over the close spread (eight sessions over 400 ms, closed a few
// at each of its ticks).
func TestSessionLogUpgrade(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.CloseSpread = 400 * time.Millisecond
	r := startLogged(t, cfg)
	c := established(t, r, "up")
	r.HandOver(time.Nanosecond) // closed at once, not spread
	r.stop(t)
	r.wantEnd(t, EndUpgrade, 2, 2, c, srv)

	r = startLogged(t, cfg)
	for range 8 {
		established(t, r, "up")
	}
	r.HandOver(500 * time.Millisecond)
	r.stop(t)
	for range 8 {
		if m := r.next(t); m["reason"] != EndUpgrade.String() {
			t.Errorf("reason %v, want %v (line %v)", m["reason"], EndUpgrade, m)
		}
	}
}

// TestSessionLogRefusals: clients that never had a backend connection are
// logged too, without a backend: refused for maxconn, no usable backend,
// every connect attempt failed.
func TestSessionLogRefusals(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.MaxConn = 1
	r := startLogged(t, cfg)
	established(t, r, "first")
	c := r.dial(t)
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	r.wantEnd(t, EndRefused, 0, 0, c, nil)

	cfg = baseConfig([]BackendConfig{{Name: "a", Address: srv.addr, Weight: 1, Checked: true}}) // DOWN until checked
	r = startLogged(t, cfg)
	c = r.dial(t)
	r.wantEnd(t, EndNoBackend, 0, 0, c, nil)

	cfg = baseConfig([]BackendConfig{{Name: "a", Address: unusedAddr(t, "127.0.0.2"), Weight: 1}})
	cfg.Retries = 0
	r = startLogged(t, cfg)
	c = r.dial(t)
	r.wantEnd(t, EndConnectFailed, 0, 0, c, nil)
}

// TestSessionLogOff: without LogSessions no line is written; Apply turns
// it on for the sessions that end from then on.
func TestSessionLogOff(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	sink := &endSink{lines: make(chan map[string]any, 10)}
	cfg := baseConfig(backendsOf(srv))
	r := startListener(t, cfg, 1, func(l *Listener) { l.log = zap.New(sink).With(zap.String("listener", cfg.Name)) })
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("quiet")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	eventually(t, 5*time.Second, "the session to end", func() bool { return r.Snapshot().Active == 0 })
	select {
	case m := <-sink.lines:
		t.Fatalf("logged with LogSessions off: %v", m)
	default:
	}
	cfg.LogSessions = true
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	lr := &loggedListener{runningListener: r, sink: sink}
	c = established(t, lr, "loud")
	c.CloseWrite()
	lr.wantEnd(t, EndClientClosed, 4, 4, c, srv)
}

// TestEndReasonString: every reason has its name.
func TestEndReasonString(t *testing.T) {
	seen := map[string]bool{}
	for r := EndUnknown; r < numEndReasons; r++ {
		s := r.String()
		if s == "" || seen[s] || strings.HasPrefix(s, "EndReason(") {
			t.Errorf("EndReason(%d) = %q", r, s)
		}
		seen[s] = true
	}
	if s := EndReason(numEndReasons).String(); s != "EndReason(25)" {
		t.Errorf("out of range: %q", s)
	}
}

// BenchmarkConnectSessionLog is BenchmarkConnect with LogSessions on,
// logging JSON lines (as `rmqlb run --log-format json` does) to
// io.Discard: the cost of the session log when it is on.
func BenchmarkConnectSessionLog(b *testing.B) {
	srv := newServer(b, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.LogSessions = true
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	r := startListener(b, cfg, 0, func(l *Listener) {
		l.log = zap.New(zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zap.InfoLevel)).With(zap.String("listener", cfg.Name))
	})
	benchConnect(b, r.Addr().String())
}
