package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// harness runs a Daemon on loopback with fake checks (the test decides
// each result), fake VRRP transports and VIP owners, and a fake clock for
// the checks, the VRRP instances and the daemon's waits. Listeners and
// their sessions are real sockets on 127.0.0.x.
type harness struct {
	t      *testing.T
	dir    string
	path   string
	clk    *clock.Fake
	reg    *prometheus.Registry
	checks *checkers
	vrrp   *vrrpFakes
	d      *Daemon
	// loops is each listener's number of event loops (Options.ProxyLoops;
	// 0: GOMAXPROCS).
	loops  int
	cancel context.CancelFunc
	done   chan error
	// lastRound is when the last round of checks was due (the start,
	// with no jitter).
	lastRound time.Time

	staleMu sync.Mutex
	stale   []*config.Config // what the daemon asked to remove stale VIPs of
}

// staleRemovals returns the configurations whose stale VIPs the daemon
// removed, in order.
func (h *harness) staleRemovals() []*config.Config {
	h.staleMu.Lock()
	defer h.staleMu.Unlock()
	return slices.Clone(h.stale)
}

// newHarness writes cfg (a YAML file; "SOCKET" is replaced by a socket in
// the test's directory) and builds a daemon on it; each of mods may change
// the daemon's options first.
func newHarness(t *testing.T, cfg string, mods ...func(*Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t:      t,
		dir:    dir,
		path:   filepath.Join(dir, "rmqlb.yaml"),
		clk:    clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		reg:    prometheus.NewRegistry(),
		checks: &checkers{byID: map[backend.ID]*fakeCheck{}},
		vrrp:   &vrrpFakes{byName: map[string]*fakeVRRP{}},
	}
	h.lastRound = h.clk.Now()
	h.write(cfg)
	c, err := config.Load(h.path)
	if err != nil {
		t.Fatal(err)
	}
	opt := h.options("test")
	for _, m := range mods {
		m(&opt)
	}
	h.d, err = New(c, opt)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// options are the daemon's options with the harness's fakes.
func (h *harness) options(version string) Options {
	return Options{
		Path:        h.path,
		Version:     version,
		Logger:      zaptest.NewLogger(h.t, zaptest.Level(zap.InfoLevel)).With(zap.String("daemon", version)),
		Clock:       h.clk,
		CheckJitter: func(time.Duration) time.Duration { return 0 },
		Registry:    h.reg,
		ProxyLoops:  h.loops,
		NewChecker:  h.checks.new,
		NewVRRP:     h.vrrp.new,
		RemoveStale: func(c *config.Config, _ *zap.Logger) error {
			h.staleMu.Lock()
			h.stale = append(h.stale, c)
			h.staleMu.Unlock()
			return nil
		},
	}
}

// nextChecks moves the fake clock to the next round of checks (every
// backend's interval is 1 s) once the scheduler waits for it: a timer of
// its own, not the deadline of a check (clock.Arm.Context), which may be
// at the same instant.
func (h *harness) nextChecks() {
	h.t.Helper()
	at := h.lastRound.Add(time.Second)
	h.clk.WaitArmedWhere(h.t, func(a clock.Arm) bool { return !a.Context && a.At.Equal(at) })
	h.clk.Set(at)
	h.lastRound = at
}

// socket is the control socket of the harness's files.
func (h *harness) socket() string { return filepath.Join(h.dir, "ctl.sock") }

// write writes the configuration file.
func (h *harness) write(cfg string) {
	h.t.Helper()
	cfg = strings.ReplaceAll(cfg, "SOCKET", h.socket())
	if err := os.WriteFile(h.path, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// start runs the daemon; the test's cleanup stops it.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx) }()
	h.t.Cleanup(func() { h.stop() })
}

// stop stops the daemon and returns Run's error.
func (h *harness) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		return err
	case <-time.After(30 * time.Second):
		h.t.Fatal("the daemon did not stop within 30 s")
		return nil
	}
}

// ready waits until the daemon has started every part.
func (h *harness) ready() {
	h.t.Helper()
	select {
	case <-h.d.Ready():
	case err := <-h.done:
		h.t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("the daemon was not ready within 10 s")
	}
}

// listener returns the snapshot of backend id's listener entry.
func (h *harness) backendState(id backend.ID) backend.State {
	h.t.Helper()
	for _, l := range h.d.Status().Listeners {
		if l.Name != id.Listener {
			continue
		}
		for _, b := range l.Backends {
			if b.Name == id.Name {
				return b.State
			}
		}
	}
	h.t.Fatalf("no backend %s in status", id)
	return 0
}

// eventually polls cond (real time: the balancer's sockets are real) for
// up to 5 s.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkers hands out fake checks by backend.
type checkers struct {
	mu   sync.Mutex
	byID map[backend.ID]*fakeCheck
}

func (c *checkers) new(b *config.Backend) (healthcheck.Checker, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fc, ok := c.byID[b.ID]; ok {
		return fc, nil
	}
	fc := &fakeCheck{results: make(chan healthcheck.Result), started: make(chan struct{}, 100)}
	c.byID[b.ID] = fc
	return fc, nil
}

func (c *checkers) get(id backend.ID) *fakeCheck {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

// fakeCheck is a checker whose every result the test gives: Check blocks
// until the test sends one (or the check's context ends), unless the test
// set an automatic result.
type fakeCheck struct {
	results chan healthcheck.Result
	started chan struct{}
	auto    atomic.Pointer[healthcheck.Result]
	// stuck makes Check ignore its context: a checker with a bug.
	stuck atomic.Bool
}

func (f *fakeCheck) Check(ctx context.Context) healthcheck.Result {
	select {
	case f.started <- struct{}{}:
	default:
	}
	if r := f.auto.Load(); r != nil {
		return *r
	}
	if f.stuck.Load() {
		return <-f.results
	}
	select {
	case r := <-f.results:
		return r
	case <-ctx.Done():
		return healthcheck.Result{Err: ctx.Err()}
	}
}

// always makes every further check return r at once.
func (f *fakeCheck) always(r healthcheck.Result) { f.auto.Store(&r) }

// answer waits for the check to run and gives it r.
func (f *fakeCheck) answer(t *testing.T, r healthcheck.Result) {
	t.Helper()
	// Generous: the daemon's first check waits for its start, which under
	// -race beside every other package's tests took over 5 s once.
	select {
	case f.results <- r:
	case <-time.After(20 * time.Second):
		t.Fatal("no check ran within 20 s")
	}
}

// vrrpFakes hands out fake transports and VIP owners by instance.
type vrrpFakes struct {
	mu     sync.Mutex
	byName map[string]*fakeVRRP
}

func (v *vrrpFakes) new(in *config.VRRPInstance, _ *zap.Logger, _ prometheus.Registerer) (vrrp.Transport, VIPOwner, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f := &fakeVRRP{name: in.Name, vips: in.VIPs, closed: make(chan struct{}), in: make(chan []byte)}
	v.byName[in.Name] = f
	return &fakeTransport{f: f}, &fakeOwner{f: f}, nil
}

func (v *vrrpFakes) get(name string) *fakeVRRP {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.byName[name]
}

// fakeVRRP records what one instance sent and did with its VIPs, and
// delivers the adverts a test injects.
type fakeVRRP struct {
	name   string
	closed chan struct{}
	in     chan []byte // adverts from fakePeer

	mu       sync.Mutex
	vips     []netip.Prefix
	garp     netsetup.GARPConfig
	updates  int           // Update calls of the VIP owner
	recheck  time.Duration // the last SetRecheck
	adverts  []vrrp.Packet
	acquired int
	released int
	held     bool
	peers    []netip.Addr // the transport's unicast peers
	// updateErr, when set, is what the VIP owner's Update returns for
	// a configuration with an address it does not have (it changes
	// nothing then), as a VIP set that cannot take its new addresses
	// does; with updateInForce the new configuration is in force all the
	// same, as in a held netsetup.VIPSet that cannot add one.
	updateErr     error
	updateInForce bool
}

// fakePeer is the source of the adverts a test injects.
var fakePeer = netip.MustParseAddr("192.0.2.2")

// inject delivers an advert of another router (fakePeer) with priority
// prio, for the instance's current VIPs and interval iv.
func (f *fakeVRRP) inject(t *testing.T, prio uint8, iv time.Duration) {
	t.Helper()
	f.mu.Lock()
	var addrs []netip.Addr
	for _, p := range f.vips {
		addrs = append(addrs, p.Addr())
	}
	f.mu.Unlock()
	p := vrrp.Packet{Version: 3, VRID: 1, Priority: prio, AdvertInterval: iv, Addrs: addrs}
	b, err := p.Marshal(fakePeer, vrrp.MulticastIPv4, vrrp.ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case f.in <- b:
	case <-time.After(5 * time.Second):
		t.Fatal("the instance did not read the injected advert")
	}
}

func (f *fakeVRRP) sentPriorities() []uint8 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint8
	for _, p := range f.adverts {
		out = append(out, p.Priority)
	}
	return out
}

type fakeTransport struct {
	f    *fakeVRRP
	once sync.Once
}

var fakeSrc = netip.MustParseAddr("192.0.2.1")

func (t *fakeTransport) Source() netip.Addr { return fakeSrc }
func (t *fakeTransport) Destinations() []netip.Addr {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	if len(t.f.peers) > 0 {
		return slices.Clone(t.f.peers)
	}
	return []netip.Addr{vrrp.MulticastIPv4}
}

// Reconfigure implements vrrp.Reconfigurer: it records the peers.
func (t *fakeTransport) Reconfigure(cfg vrrp.TransportConfig) error {
	t.f.mu.Lock()
	t.f.peers = slices.Clone(cfg.Peers)
	t.f.mu.Unlock()
	return nil
}
func (t *fakeTransport) WriteTo(b []byte, dst netip.Addr) error {
	p, err := vrrp.Parse(b, fakeSrc, dst)
	if err != nil {
		return fmt.Errorf("fake transport: %w", err)
	}
	t.f.mu.Lock()
	t.f.adverts = append(t.f.adverts, *p)
	t.f.mu.Unlock()
	return nil
}
func (t *fakeTransport) ReadFrom(b []byte) (int, vrrp.RecvInfo, error) {
	select {
	case p := <-t.f.in:
		return copy(b, p), vrrp.RecvInfo{Src: fakePeer, Dst: vrrp.MulticastIPv4, TTL: 255}, nil
	case <-t.f.closed:
		return 0, vrrp.RecvInfo{}, net.ErrClosed
	}
}
func (t *fakeTransport) Close() error {
	t.once.Do(func() { close(t.f.closed) })
	return nil
}

type fakeOwner struct{ f *fakeVRRP }

func (o *fakeOwner) Acquire(context.Context) error {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	o.f.acquired++
	o.f.held = true
	return nil
}

func (o *fakeOwner) Release(context.Context) error {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	o.f.released++
	o.f.held = false
	return nil
}

func (o *fakeOwner) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (o *fakeOwner) SetRecheck(d time.Duration) {
	o.f.mu.Lock()
	o.f.recheck = d
	o.f.mu.Unlock()
}

func (o *fakeOwner) Update(cfg netsetup.VIPConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	adds := slices.ContainsFunc(cfg.VIPs, func(p netip.Prefix) bool { return !slices.Contains(o.f.vips, p) })
	if o.f.updateErr != nil && adds && !o.f.updateInForce {
		return o.f.updateErr
	}
	o.f.vips, o.f.garp = slices.Clone(cfg.VIPs), cfg.GARP
	o.f.updates++
	if o.f.updateErr != nil && adds {
		return o.f.updateErr
	}
	return nil
}

func (o *fakeOwner) Snapshot() netsetup.VIPSetSnapshot {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	s := netsetup.VIPSetSnapshot{Held: o.f.held}
	for _, p := range o.f.vips {
		s.VIPs = append(s.VIPs, netsetup.VIPSnapshot{Prefix: p, Present: o.f.held, Marked: o.f.held, Marker: netsetup.MarkerLabelProto})
	}
	return s
}

// echoServer accepts on 127.0.0.x:0 and echoes; it counts accepts.
type echoServer struct {
	ln      net.Listener
	mu      sync.Mutex
	accepts int
}

func newEcho(t *testing.T, ip string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.accepts++
			e.mu.Unlock()
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

// roundTrip writes b on c and reads it back.
func roundTrip(c net.Conn, b []byte) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		return err
	}
	got := make([]byte, len(b))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != string(b) {
		return errors.New("echo mismatch")
	}
	return nil
}

// closedByPeer reports whether c is closed by the other side within 5 s.
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// reload writes file as the configuration file and reloads it, as
// rmqlb reload does.
func (h *harness) reload(file string) control.Reload {
	h.t.Helper()
	h.write(file)
	res, err := h.d.Handle(context.Background(), control.Request{Command: "reload"})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.(control.Reload)
}
