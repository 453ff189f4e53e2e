package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/internal/metricstest"
	"github.com/rmqlb/rmqlb/vrrp"
	"go.uber.org/zap"
)

var (
	idA = backend.ID{Listener: "amqp", Name: "a"}
	idB = backend.ID{Listener: "amqp", Name: "b"}
	idC = backend.ID{Listener: "amqp", Name: "c"}
)

// lab is the backends and addresses of a test daemon.
type lab struct {
	a, b, c *echoServer
	bind    string
}

func newLab(t *testing.T) *lab {
	return &lab{a: newEcho(t, "127.0.0.2"), b: newEcho(t, "127.0.0.3"), c: newEcho(t, "127.0.0.4"), bind: freeport.Addr(t, "127.0.0.1")}
}

// file is the test daemon's configuration: one VRRP instance tracking a,
// one listener over a and b with a TCP check (1 s, rise 1, fall 1);
// replace edits it.
func (l *lab) file(replace ...string) string {
	s := `control_socket: SOCKET
vrrp_instances:
  - name: v
    interface: eth0
    virtual_router_id: 1
    version: 3
    advert_interval: 100ms
    priority: 150
    virtual_ipaddress: [192.0.2.100/32]
    track: [{check: amqp/a, weight: -60}]
listeners:
  - name: amqp
    bind: BIND
    policy: roundrobin
    check: {type: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 1}
    backends:
      - {name: a, address: A, weight: 10}
      - {name: b, address: B, weight: 10}
`
	s = strings.NewReplacer("BIND", l.bind, "A", l.a.addr(), "B", l.b.addr()).Replace(s)
	for i := 0; i+1 < len(replace); i += 2 {
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	return s
}

// startChecked starts the daemon and passes the first check of a and b.
func startChecked(t *testing.T, h *harness) {
	t.Helper()
	h.start()
	h.checks.get(idA).answer(t, healthcheck.Result{})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.ready()
}

func (h *harness) vrrpSnapshot() vrrp.Snapshot {
	h.t.Helper()
	s := h.d.Status()
	if len(s.VRRP) != 1 {
		h.t.Fatalf("status has %d VRRP instances", len(s.VRRP))
	}
	return s.VRRP[0].Snapshot
}

// TestStartOrder: VRRP starts only after every backend's first check; the
// backends are not served before it.
func TestStartOrder(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	h.start()
	h.eventually("listening", func() bool { s := h.d.Status(); return len(s.Listeners) == 1 && s.Listeners[0].Listening })
	if st := h.backendState(idA); st != backend.Down {
		t.Fatalf("a before its first check: %v", st)
	}
	h.checks.get(idA).answer(t, healthcheck.Result{})
	// b has not answered: VRRP waits.
	time.Sleep(50 * time.Millisecond) // give a wrong start the chance to show
	if st := h.vrrpSnapshot().State; st != vrrp.StateInit {
		t.Fatalf("VRRP %v before b's first check, want INIT", st)
	}
	select {
	case <-h.d.Ready():
		t.Fatal("ready before b's first check")
	default:
	}
	h.checks.get(idB).answer(t, healthcheck.Result{Err: errors.New("refused")})
	h.ready()
	h.eventually("VRRP BACKUP", func() bool { return h.vrrpSnapshot().State == vrrp.StateBackup })
	if a, b := h.backendState(idA), h.backendState(idB); a != backend.Up || b != backend.Down {
		t.Fatalf("after first checks: a %v b %v", a, b)
	}
}

// TestFirstCheckLimit: a check that never answers does not hold VRRP
// back for ever: it starts after the bound.
func TestFirstCheckLimit(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	h.checks.get(idB).stuck.Store(true) // b's checker never returns
	h.start()
	h.checks.get(idA).answer(t, healthcheck.Result{})
	select {
	case <-h.d.Ready():
		t.Fatal("ready before the bound with b unchecked")
	case <-time.After(50 * time.Millisecond):
	}
	limit := h.clk.Now().Add(time.Second + 500*time.Millisecond + 250*time.Millisecond) // interval + timeout + margin
	h.clk.WaitArmed(t, limit)
	h.clk.Set(limit)
	h.ready()
	h.eventually("VRRP started", func() bool { return h.vrrpSnapshot().State != vrrp.StateInit })
	// Let the scheduler stop: release b's stuck check and any later one.
	h.checks.get(idB).stuck.Store(false)
	h.checks.get(idB).always(healthcheck.Result{})
	h.checks.get(idB).answer(t, healthcheck.Result{})
}

// TestHealthReachesBalancerAndTracks: check results set the listener's
// backend states (one vocabulary), shut a failed backend's sessions, and
// move the VRRP priority through the track rule.
func TestHealthReachesBalancerAndTracks(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	if adj := h.vrrpSnapshot().PriorityAdjust; adj != 0 {
		t.Fatalf("priority adjust with a UP: %d", adj)
	}
	c := openSession(t, l) // round robin: a first
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{Err: errors.New("frozen")})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.eventually("a DOWN in the listener", func() bool { return h.backendState(idA) == backend.Down })
	if !closedByPeer(c) {
		t.Error("the session to a DOWN backend was not shut down")
	}
	h.eventually("track -60", func() bool { return h.vrrpSnapshot().PriorityAdjust == -60 })

	// An alarm degrades, and a degraded backend is served.
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{Alarm: "publishers blocked: memory"})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.eventually("a DEGRADED", func() bool { return h.backendState(idA) == backend.Degraded })
	h.eventually("track cleared", func() bool { return h.vrrpSnapshot().PriorityAdjust == 0 })
	status := h.d.Status()
	for _, ck := range status.Checks {
		if ck.Backend == idA && (ck.State != backend.Degraded || ck.Health != backend.Degraded) {
			t.Errorf("check status of a: %+v", ck)
		}
	}
}

// TestAdmin: drain, maint and ready through the control handler, for a
// checked and an unchecked backend; a drain does not hide a failing check:
// the drained backend goes DOWN and its sessions are shut down.
func TestAdmin(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file("      - {name: b, address: "+l.b.addr()+", weight: 10}", "      - {name: b, address: "+l.b.addr()+", weight: 10, check: {type: none}}"))
	h.start()
	h.checks.get(idA).answer(t, healthcheck.Result{})
	h.ready()
	// a's first result reaches the listener on its own goroutine: a
	// session opened before a is UP there finds no backend.
	h.eventually("a UP in the listener", func() bool { return h.backendState(idA) == backend.Up })
	ctx := context.Background()
	call := func(args ...string) (control.BackendAdmin, error) {
		res, err := h.d.Handle(ctx, control.Request{Command: "backend", Args: args})
		if err != nil {
			return control.BackendAdmin{}, err
		}
		return res.(control.BackendAdmin), nil
	}
	// A session on a (b is out of rotation meanwhile), kept by the drain.
	if r, err := call("amqp/b", "maint"); err != nil || r.State != backend.Maint {
		t.Fatalf("maint b: %+v %v", r, err)
	}
	sess := openSession(t, l)
	l.a.mu.Lock()
	onA := l.a.accepts
	l.a.mu.Unlock()
	if onA != 1 {
		t.Fatalf("a accepted %d connections, want the session's", onA)
	}
	if r, err := call("amqp/b", "ready"); err != nil || r.State != backend.Up {
		t.Fatalf("ready b: %+v %v", r, err)
	}
	if r, err := call("amqp/a", "drain"); err != nil || r.State != backend.Drain {
		t.Fatalf("drain a: %+v %v", r, err)
	}
	if st := h.backendState(idA); st != backend.Drain {
		t.Fatalf("listener state of a drained: %v", st)
	}
	if err := roundTrip(sess, []byte("drained")); err != nil {
		t.Fatalf("the session of a drained backend: %v", err)
	}
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{Err: errors.New("frozen")})
	h.eventually("a drained and failing is DOWN", func() bool { return h.backendState(idA) == backend.Down })
	// on_marked_down is shutdown-sessions by default: DOWN closes the
	// session the drain kept, so a frozen broker does not hold it.
	if !closedByPeer(sess) {
		t.Fatal("the session of a drained backend that went DOWN was not closed")
	}
	if r, err := call("amqp/a", "ready"); err != nil || r.State != backend.Down {
		t.Fatalf("ready a while failing: %+v %v", r, err)
	}
	// b has no check: its state is set on the listener.
	if r, err := call("amqp/b", "maint"); err != nil || r.State != backend.Maint {
		t.Fatalf("maint b: %+v %v", r, err)
	}
	if st := h.backendState(idB); st != backend.Maint {
		t.Fatalf("listener state of b in maint: %v", st)
	}
	if r, err := call("amqp/b", "ready"); err != nil || r.State != backend.Up {
		t.Fatalf("ready b: %+v %v", r, err)
	}
	for _, bad := range [][]string{{"amqp/x", "drain"}, {"amqp", "drain"}, {"amqp/a", "up"}, {"amqp/a"}} {
		if _, err := h.d.Handle(ctx, control.Request{Command: "backend", Args: bad}); err == nil {
			t.Errorf("backend %v accepted", bad)
		}
	}
	if _, err := h.d.Handle(ctx, control.Request{Command: "frobnicate"}); err == nil {
		t.Error("unknown command accepted")
	}
}

// TestReload: successive reloads are each compared with what runs: a
// change applied, then changed back, is applied back; a bad file changes
// nothing; backends and listeners are added and removed; a removed
// backend's sessions are closed and the others' kept; a priority change
// waits for a restart and a file changed back needs none.
func TestReload(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	reload := h.reload
	weight := func(name string) int {
		for _, b := range h.d.Status().Listeners[0].Backends {
			if b.Name == name {
				return b.Weight
			}
		}
		return -1
	}

	if r := reload(l.file("weight: 10}", "weight: 3}")); !r.OK() || len(r.Applied) != 1 || weight("a") != 3 {
		t.Fatalf("weight 10 -> 3: %+v, weight %d", r, weight("a"))
	}
	if r := reload(l.file()); !r.OK() || len(r.Applied) != 1 || weight("a") != 10 {
		t.Fatalf("weight back to 10: %+v, weight %d", r, weight("a"))
	}
	if r := reload("listeners: [{name: amqp, bind: nowhere}]\n"); r.Error == "" || !strings.Contains(r.Error, "listeners[0].bind") || weight("a") != 10 {
		t.Fatalf("bad file: %+v", r)
	}
	if s := h.d.Status(); s.Reload == nil || s.Reload.Error == "" {
		t.Fatalf("status after a refused reload: %+v", s.Reload)
	}

	// Sessions on a and b (round robin: each served before the next
	// connects, since which of the listener's event loops accepts a
	// connection, and so the order of two concurrent ones, is not
	// fixed); then add c (checked) and remove b.
	var ca, cb net.Conn
	for _, c := range []*net.Conn{&ca, &cb} {
		conn, err := net.Dial("tcp", l.bind)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		*c = conn
		if err := roundTrip(conn, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	withC := l.file("      - {name: b, address: "+l.b.addr()+", weight: 10}\n", "      - {name: c, address: "+l.c.addr()+"}\n")
	r := reload(withC)
	if !r.OK() || !slices.Contains(r.Applied, "check of amqp/b removed") || !slices.Contains(r.Applied, "check of amqp/c added") {
		t.Fatalf("b out, c in: %+v", r)
	}
	if !closedByPeer(cb) {
		t.Error("the session of the removed backend b was not closed")
	}
	if err := roundTrip(ca, []byte("still")); err != nil {
		t.Errorf("the session of a, which stays: %v", err)
	}
	if st := h.backendState(idC); st != backend.Down {
		t.Fatalf("c before its first check: %v", st)
	}
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{})
	h.checks.get(idC).answer(t, healthcheck.Result{})
	h.eventually("c UP", func() bool { return h.backendState(idC) == backend.Up })

	// An interface change needs a restart, with its line, and holds the
	// instance's other changes back; changed back, none.
	r = reload(strings.NewReplacer("interface: eth0", "interface: eth1", "priority: 150", "priority: 120").Replace(withC))
	if !r.OK() || len(r.Pending) != 1 || r.Pending[0] != "line 4: vrrp_instances[0].interface: changed from eth0 to eth1: needs a restart" ||
		len(r.Applied) != 0 || h.vrrpSnapshot().ConfiguredPriority != 150 {
		t.Fatalf("interface: %+v, priority %d", r, h.vrrpSnapshot().ConfiguredPriority)
	}
	// A file that does not parse changes nothing: the restart is still
	// pending, and status says so.
	r = reload("vrrp_instances: [\n")
	if r.Error == "" || len(r.Pending) != 1 || !strings.Contains(r.Pending[0], "interface: changed from eth0 to eth1") {
		t.Fatalf("a broken file after a pending restart: %+v", r)
	}
	if s := h.d.Status(); s.Reload == nil || len(s.Reload.Pending) != 1 {
		t.Fatalf("status after the broken file: %+v", s.Reload)
	}
	if r = reload(withC); !r.OK() || len(r.Pending) != 0 || len(r.Applied) != 0 {
		t.Fatalf("interface changed back: %+v", r)
	}
	// A priority change is applied live; and changed back.
	for _, c := range []struct {
		file string
		prio uint8
	}{{strings.Replace(withC, "priority: 150", "priority: 120", 1), 120}, {withC, 150}} {
		r = reload(c.file)
		if !r.OK() || len(r.Pending) != 0 || !slices.Equal(r.Applied, []string{"vrrp instance v updated: priority"}) {
			t.Fatalf("priority %d: %+v", c.prio, r)
		}
		h.eventually("the new priority", func() bool { return h.vrrpSnapshot().ConfiguredPriority == c.prio })
	}

	// A second listener comes and goes.
	port2 := freeport.Addr(t, "127.0.0.1")
	two := withC + "  - name: mgmt\n    bind: " + port2 + "\n    backends: [{name: a, address: " + l.a.addr() + ", check: {type: none}}]\n"
	if r = reload(two); !r.OK() || !slices.Contains(r.Applied, "listener mgmt added on "+port2) {
		t.Fatalf("listener added: %+v", r)
	}
	c2, err := net.Dial("tcp", port2)
	if err != nil {
		t.Fatalf("the added listener: %v", err)
	}
	if err := roundTrip(c2, []byte("y")); err != nil {
		t.Fatalf("through the added listener: %v", err)
	}
	c2.Close()
	if r = reload(withC); !r.OK() || !slices.Contains(r.Applied, "listener mgmt removed") {
		t.Fatalf("listener removed: %+v", r)
	}
	if c, err := net.Dial("tcp", port2); err == nil {
		c.Close()
		t.Error("the removed listener still accepts")
	}
	// And again: its metrics went with it, so adding it back works.
	if r = reload(two); !r.OK() {
		t.Fatalf("listener added again: %+v", r)
	}
}

// TestReloadTracksWithoutTransient: a master whose track rules are
// rebuilt by a reload never advertises the "every rule failing" priority
// of a tracker that has not caught up yet.
func TestReloadTracksWithoutTransient(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	// Master after the master-down interval (3 x 100 ms + skew); the
	// checks keep passing meanwhile.
	startMaster(t, h)
	f := h.vrrp.get("v")
	before := len(f.sentPriorities())
	// Record every adjustment the trackers set from now on.
	var mu sync.Mutex
	var adjusts []int
	h.d.mu.Lock()
	u := h.d.units["v"]
	set := u.setAdjust
	u.setAdjust = func(d int) { mu.Lock(); adjusts = append(adjusts, d); mu.Unlock(); set(d) }
	h.d.mu.Unlock()
	h.write(l.file("weight: -60}", "weight: -20}"))
	if r := h.d.Reload(); !r.OK() || !slices.Contains(r.Applied, "tracks of vrrp instance v") {
		t.Fatalf("reload: %+v", r)
	}
	mu.Lock()
	if len(adjusts) == 0 || slices.ContainsFunc(adjusts, func(d int) bool { return d != 0 }) {
		t.Errorf("adjustments set by the reload: %v, want only 0 (a UP: no rule fails)", adjusts)
	}
	mu.Unlock()
	time.Sleep(50 * time.Millisecond) // adverts go out from the instance's goroutine
	for _, p := range f.sentPriorities()[before:] {
		if p != 150 {
			t.Fatalf("advert with priority %d after the reload (sent: %v)", p, f.sentPriorities()[before:])
		}
	}
	if tr := h.d.Status().VRRP[0].Tracks; len(tr) != 1 || tr[0].Weight != -20 || tr[0].Failing {
		t.Fatalf("tracks after reload: %+v", tr)
	}
}

// TestReloadBeforeReady: a reload asked for while the daemon starts is
// applied once it is ready, not lost and not fatal.
func TestReloadBeforeReady(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	h.write(l.file("weight: 10}", "weight: 4}"))
	h.d.RequestReload()
	startChecked(t, h)
	h.eventually("the early reload applied", func() bool {
		s := h.d.Status()
		return s.Reload != nil && s.Listeners[0].Backends[0].Weight == 4
	})
}

// TestSingleInstance: a second daemon with the same control socket exits
// before touching anything: it does not clean up VIPs.
func TestSingleInstance(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	h2 := newHarness(t, l.file("control_socket: SOCKET", "control_socket: "+h.socket()))
	cleaned := false
	h2.d.opt.RemoveStale = func(*config.Config, *zap.Logger) error { cleaned = true; return nil }
	err := h2.d.Run(context.Background())
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second daemon: %v, want ErrLocked", err)
	}
	if cleaned {
		t.Error("the second daemon removed stale VIPs")
	}
}

// TestSingleInstanceLockFileRemoved: a second daemon whose lock file is
// new, because someone removed the running daemon's (a clean-up of
// /run), still exits before touching anything when the running daemon
// answers on the control socket: it does not remove that daemon's VIPs.
func TestSingleInstanceLockFileRemoved(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	if err := os.Remove(LockPath(h.socket())); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, l.file("control_socket: SOCKET", "control_socket: "+h.socket()))
	cleaned := false
	h2.d.opt.RemoveStale = func(*config.Config, *zap.Logger) error { cleaned = true; return nil }
	err := h2.d.Run(context.Background())
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second daemon: %v, want ErrLocked", err)
	}
	// The running daemon is this test's process: the error names its pid,
	// the one an operator would look at.
	if want := fmt.Sprintf("(pid %d)", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("second daemon: %v, want it to name the running one %s", err, want)
	}
	if cleaned {
		t.Error("the second daemon removed stale VIPs")
	}
}

// TestBindErrorReported: a listener that cannot bind fails the start with
// its own error, not a cancellation.
func TestBindErrorReported(t *testing.T) {
	l := newLab(t)
	taken, err := net.Listen("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	h := newHarness(t, l.file())
	err = h.d.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "address already in use") || strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("Run = %v, want the bind error", err)
	}
}

// TestMetricsEndpoint: the scrape works and a reload moves it.
func TestMetricsEndpoint(t *testing.T) {
	l := newLab(t)
	m1, m2 := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	h := newHarness(t, l.file("control_socket: SOCKET", "control_socket: SOCKET\nmetrics_listen: "+m1))
	startChecked(t, h)
	scrape := func(addr string) (string, error) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := scrape(m1)
	if err != nil || !strings.Contains(body, `rmqlb_backend_state{backend="a",listener="amqp",state="UP"} 1`) {
		t.Fatalf("scrape: %v\n%s", err, body)
	}
	h.write(l.file("control_socket: SOCKET", "control_socket: SOCKET\nmetrics_listen: "+m2))
	if r := h.d.Reload(); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	if _, err := scrape(m2); err != nil {
		t.Fatalf("scrape on the new address: %v", err)
	}
	if _, err := scrape(m1); err == nil {
		t.Error("the old metrics address still answers")
	}
}

// TestSlowStartWeights: a backend back from DOWN ramps its weight share
// in the listener on the fake clock.
func TestSlowStartWeights(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file("rise: 1, fall: 1}", "rise: 1, fall: 1, slowstart: 10s}"))
	startChecked(t, h)
	share := func() int { return h.d.Status().Listeners[0].Backends[0].WeightPercent }
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{Err: errors.New("down")})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.eventually("a DOWN", func() bool { return h.backendState(idA) == backend.Down })
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.eventually("a back at 1 %", func() bool { return h.backendState(idA) == backend.Up && share() == 1 })
	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	// Halfway through the 10 s, the share is halfway (1 + 99 x 5/10, in
	// whole percent); at the end, all of it.
	for range 10 {
		h.clk.Advance(500 * time.Millisecond)
	}
	h.eventually("a at 50 % after 5 s", func() bool { return share() == 50 })
	for range 10 {
		h.clk.Advance(500 * time.Millisecond)
	}
	h.eventually("a at 100 %", func() bool { return share() == 100 })
}

// TestStatusWhileStarting: while the daemon waits for the first checks
// before VRRP, status says it starts, which step it is in and how long
// that lasts at most, and the verdict is degraded for it; once it has
// started, status says nothing of a start.
func TestStatusWhileStarting(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	start := h.clk.Now()
	h.start()
	const waiting = "waiting for the first health checks before VRRP"
	h.eventually("the wait for the first checks", func() bool { st := h.d.Status().Starting; return st != nil && st.Step == waiting })
	s := schemaStatus(t, h)
	if st := s.Starting; st == nil || st.Step != waiting || !st.Until.Equal(start.Add(time.Second+500*time.Millisecond+250*time.Millisecond)) {
		t.Errorf("status while waiting for the first checks: %+v, want %q until the bound (interval + timeout + margin)", st, waiting)
	}
	if v := s.Verdict; !v.Degraded || len(v.Reasons) == 0 || v.Reasons[0] != "starting for 0s: "+waiting+", for at most 2s more" || !strings.HasPrefix(v.Summary, "starting; ") {
		t.Errorf("verdict while starting: %+v", v)
	}
	h.checks.get(idA).answer(t, healthcheck.Result{})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.ready()
	s = schemaStatus(t, h)
	if s.Starting != nil || strings.HasPrefix(s.Verdict.Summary, "starting") || slices.ContainsFunc(s.Verdict.Reasons, func(r string) bool { return strings.HasPrefix(r, "starting") }) {
		t.Errorf("status once started: starting %+v, verdict %+v", s.Starting, s.Verdict)
	}
}

// TestStatusWhileStopping: once the daemon stops, and while a session
// drains, status says it stops, which step it is in and how long that
// lasts at most (the listener's graceful timeout), and so does
// rmqlb_daemon_stopping; the listener has stopped accepting, which is no
// reason of its own then.
func TestStatusWhileStopping(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h.eventually("the session", func() bool { return h.d.Status().Listeners[0].Active == 1 })
	stopping := func() float64 {
		t.Helper()
		return metricstest.Value(t, metricstest.Gather(t, h.reg), "rmqlb_daemon_stopping", nil)
	}
	if s := h.d.Status(); s.Stopping != nil || stopping() != 0 {
		t.Fatalf("a running daemon: stopping %+v, rmqlb_daemon_stopping %v", s.Stopping, stopping())
	}
	stopAt := h.clk.Now()
	h.cancel()
	const finishing = "finishing the listeners' sessions (graceful_timeout)"
	h.eventually("the drain", func() bool { st := h.d.Status().Stopping; return st != nil && st.Step == finishing })
	s := schemaStatus(t, h)
	if st := s.Stopping; st == nil || !st.Since.Equal(stopAt) || !st.Until.Equal(stopAt.Add(balancer.DefaultGracefulTimeout)) {
		t.Errorf("status while the session drains: %+v, want since the stop, until its graceful timeout", st)
	}
	if v := stopping(); v != 1 {
		t.Errorf("rmqlb_daemon_stopping while the session drains: %v, want 1", v)
	}
	if ls := s.Listeners; len(ls) != 1 || ls[0].Listening || ls[0].Active != 1 {
		t.Errorf("the listener while its session drains: %+v, want not listening, 1 active", ls)
	}
	if v := s.Verdict; !v.Degraded || !slices.Equal(v.Reasons, []string{"stopping for 0s: " + finishing + ", for at most 10s more"}) || !strings.HasPrefix(v.Summary, "stopping; ") {
		t.Errorf("verdict while stopping: %+v", v)
	}
	var out strings.Builder
	control.Format(&out, s, control.FormatOptions{})
	if !strings.Contains(out.String(), "stopped accepting: 1 active") {
		t.Errorf("rmqlb status while the session drains does not say the listener stopped accepting:\n%s", out.String())
	}
	c.Close()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
}
