package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/vrrp"
)

// A reload that adds a VRRP instance whose interface does not exist adds
// it, in FAULT naming the interface, as a start does (it waits for the
// interface); the daemon runs on with the rest, and the same file again
// changes nothing.
func TestReloadAddInstanceMissingInterface(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	orig := h.d.opt.NewVRRP
	h.d.opt.NewVRRP = func(in *config.VRRPInstance, log *zap.Logger, reg prometheus.Registerer) (vrrp.Transport, VIPOwner, error) {
		tr, o, err := orig(in, log, reg)
		if in.Name == "w" {
			tr = nil // the real transport, opened by Run on in.Interface
		}
		return tr, o, err
	}
	extra := "  - name: w\n    interface: nosuch0\n    virtual_router_id: 2\n    version: 3\n    priority: 100\n    virtual_ipaddress: [192.0.2.200/32]\nlisteners:\n"
	missing := strings.Replace(l.file(), "listeners:\n", extra, 1)
	r := h.reload(missing)
	if len(r.Refused) != 0 || !slices.Contains(r.Applied, "vrrp instance w added") {
		t.Fatalf("reload: %+v, want the instance w added", r)
	}
	s := h.d.Status()
	if len(s.VRRP) != 2 || s.VRRP[1].Name != "w" || s.VRRP[1].State != vrrp.StateFault || !strings.Contains(s.VRRP[1].Reason, "interface nosuch0 does not exist") {
		t.Fatalf("status after the reload: %+v, want w in FAULT naming its interface", s.VRRP)
	}
	if r := h.reload(missing); len(r.Refused) != 0 || len(r.Applied) != 0 {
		t.Fatalf("the same file again: %+v, want nothing changed", r)
	}
	select {
	case err := <-h.done:
		h.cancel = nil
		t.Fatalf("the daemon stopped after the reload: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
}

// A reload that moves a listener to an address that cannot be bound
// leaves it serving where it was, its checks as they were; once the
// address is free, the same file moves it.
func TestReloadMoveListenerBindFails(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// A session from before the move.
	before, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if err := roundTrip(before, []byte("x")); err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(l.file(), "bind: "+l.bind, "bind: "+taken.Addr().String(), 1)
	// The dry run foresees the refusal, in the reload's words.
	plan := h.planReload(moved)
	r := h.reload(moved)
	if len(r.Refused) != 1 || !strings.Contains(r.Refused[0], "listener amqp") || !strings.Contains(r.Refused[0], "stays on "+l.bind) ||
		!strings.Contains(r.Refused[0], "address already in use") {
		t.Fatalf("reload: %+v, want the move refused, the listener staying on %s", r, l.bind)
	}
	if !slices.Equal(plan.Refused, r.Refused) || len(plan.Changes) != 0 {
		t.Fatalf("dry run: changes %+v, refused %q; want none and the reload's refusal %q", plan.Changes, plan.Refused, r.Refused)
	}
	// The listener ran on untouched: the session from before is its
	// own still (not one left to drain), and goes on.
	if s := h.d.Status(); len(s.Listeners) != 1 || len(s.Checks) != 2 || s.Listeners[0].Active != 1 {
		t.Fatalf("status: %d listeners, %d checked backends, %d active sessions; want 1, 2 and the session from before the move", len(s.Listeners), len(s.Checks), s.Listeners[0].Active)
	}
	if err := roundTrip(before, []byte("y")); err != nil {
		t.Fatalf("the session from before a refused move: %v", err)
	}
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatalf("the listener is gone after a refused move: %v", err)
	}
	if err := roundTrip(c, []byte("x")); err != nil {
		t.Fatalf("proxying after a refused move: %v", err)
	}
	c.Close()
	taken.Close()
	if r := h.reload(moved); !r.OK() || len(r.Applied) == 0 || !strings.Contains(strings.Join(r.Applied, ";"), "listener amqp moved") {
		t.Fatalf("reload once the address is free: %+v", r)
	}
	c, err = net.Dial("tcp", taken.Addr().String())
	if err != nil {
		t.Fatalf("not listening on the new address: %v", err)
	}
	c.Close()
}

// A reload that adds a listener on an address another socket holds (a
// broker's listener on every address at its port) is refused for that
// listener and its check, and its dry run says so in the same words; a
// port that a listener of the daemon leaves in the same reload is not
// another's: the listener that takes it is added.
func TestReloadAddListenerAddressInUse(t *testing.T) {
	l := newLab(t)
	core, logs := observer.New(zap.InfoLevel)
	h := newHarness(t, l.file(), func(o *Options) { o.Logger = zap.New(zapcore.NewTee(o.Logger.Core(), core)) })
	startChecked(t, h)
	broker, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	port := broker.Addr().(*net.TCPAddr).Port
	mgmt := func(bind string) string {
		return "  - name: mgmt\n    bind: " + bind + "\n    backends: [{name: c, address: " + l.c.addr() + ", check: {type: tcp}}]\n"
	}
	inUse := fmt.Sprintf("127.0.0.1:%d", port)
	file := l.file() + mgmt(inUse)
	plan := h.planReload(file)
	r := h.reload(file)
	want := fmt.Sprintf("listener mgmt: starting listener \"mgmt\": binding %s: address already in use (another socket listens there, or on every address at port %d,", inUse, port)
	if len(r.Refused) != 1 || !strings.HasPrefix(r.Refused[0], want) || len(r.Applied) != 0 {
		t.Fatalf("reload: %+v, want nothing applied and the refusal %q", r, want)
	}
	if !slices.Equal(plan.Refused, r.Refused) || len(plan.Changes) != 0 {
		t.Fatalf("dry run: changes %+v, refused %q; want none and the reload's refusal %q", plan.Changes, plan.Refused, r.Refused)
	}
	if s := h.d.Status(); len(s.Listeners) != 1 || len(s.Checks) != 2 {
		t.Fatalf("status: %d listeners, %d checked backends; want amqp alone with its 2", len(s.Listeners), len(s.Checks))
	}
	// A reload that refuses a change is a warning in the log; one that
	// applies all is not.
	reloads := func() []zapcore.Level {
		var lv []zapcore.Level
		for _, e := range logs.FilterMessage("reloaded configuration").All() {
			lv = append(lv, e.Level)
		}
		return lv
	}
	if lv := reloads(); !slices.Equal(lv, []zapcore.Level{zapcore.WarnLevel}) {
		t.Errorf("log levels of the reload: %v, want warn", lv)
	}
	// amqp moves away and mgmt takes its address, in one reload.
	elsewhere := freeport.Addr(t, "127.0.0.1")
	file = strings.Replace(l.file(), "bind: "+l.bind, "bind: "+elsewhere, 1) + mgmt(l.bind)
	wantApplied := []string{"listener amqp moved on " + elsewhere, "listener mgmt added on " + l.bind, "check of mgmt/c added"}
	plan = h.planReload(file)
	var planned []string
	for _, c := range plan.Changes {
		planned = append(planned, c.Change)
	}
	if !slices.Equal(planned, wantApplied) || len(plan.Refused) != 0 {
		t.Fatalf("dry run of a port left and taken: %q, refused %q; want %q", planned, plan.Refused, wantApplied)
	}
	if r := h.reload(file); !r.OK() || !slices.Equal(r.Applied, wantApplied) {
		t.Fatalf("reload of a port left and taken: %+v, want %q", r, wantApplied)
	}
	if lv := reloads(); !slices.Equal(lv, []zapcore.Level{zapcore.WarnLevel, zapcore.InfoLevel}) {
		t.Errorf("log levels of the reloads: %v, want warn, then info", lv)
	}
}

// A reload that cannot move metrics_listen keeps the old endpoint in the
// running model too: the same file reloaded once the address is free
// moves it. The dry run foresees the refusal in the reload's words.
func TestReloadMoveMetricsFails(t *testing.T) {
	l := newLab(t)
	m1 := freeport.Addr(t, "127.0.0.1")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	m2 := taken.Addr().String()
	h := newHarness(t, l.file("control_socket: SOCKET", "control_socket: SOCKET\nmetrics_listen: "+m1))
	startChecked(t, h)
	moved := l.file("control_socket: SOCKET", "control_socket: SOCKET\nmetrics_listen: "+m2)
	h.write(moved)
	plan := h.d.PlanReload()
	r := h.reload(moved)
	if len(r.Refused) != 1 || !strings.Contains(r.Refused[0], "metrics_listen") {
		t.Fatalf("reload: %+v, want metrics_listen refused", r)
	}
	if len(plan.Changes) != 0 || !slices.Equal(plan.Refused, r.Refused) {
		t.Errorf("dry run: changes %+v, refused %q; want the reload's refusal %q", plan.Changes, plan.Refused, r.Refused)
	}
	taken.Close()
	if r := h.reload(moved); !r.OK() || !strings.Contains(strings.Join(r.Applied, ";"), "metrics_listen "+m2) {
		t.Fatalf("reload once the address is free: %+v, want metrics_listen %s applied", r, m2)
	}
	resp, err := http.Get("http://" + m2 + "/metrics")
	if err != nil {
		t.Fatalf("metrics not served on %s: %v", m2, err)
	}
	resp.Body.Close()
}

// A reload that moves metrics_listen to another address at the same port
// (from every address to one, or back) moves it, though the new address
// cannot be bound while the old endpoint listens; the dry run lists it
// alike.
func TestReloadMoveMetricsSamePort(t *testing.T) {
	l := newLab(t)
	port := netip.MustParseAddrPort(freeport.Addr(t, "127.0.0.1")).Port()
	all := netip.AddrPortFrom(netip.IPv4Unspecified(), port).String()
	one := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String()
	file := func(metrics string) string {
		return l.file("control_socket: SOCKET", "control_socket: SOCKET\nmetrics_listen: "+metrics)
	}
	h := newHarness(t, file(all))
	startChecked(t, h)
	for _, to := range []string{one, all} {
		h.write(file(to))
		plan := h.d.PlanReload()
		want := []string{"metrics_listen " + to}
		if len(plan.Changes) != 1 || plan.Changes[0].Change != want[0] || len(plan.Refused) != 0 {
			t.Fatalf("dry run of metrics_listen %s: %+v, want %q", to, plan, want)
		}
		if r := h.reload(file(to)); !r.OK() || !slices.Equal(r.Applied, want) {
			t.Fatalf("reload of metrics_listen %s: %+v, want %q", to, r, want)
		}
		resp, err := http.Get("http://" + one + "/metrics")
		if err != nil {
			t.Fatalf("metrics not served after the move to %s: %v", to, err)
		}
		resp.Body.Close()
	}
	// Every address at the port cannot be bound while another socket
	// listens on one of them: the endpoint listens again where it was.
	h.reloadFile(file(one))
	other, err := net.Listen("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port).String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if r := h.reload(file(all)); len(r.Refused) != 1 || !strings.Contains(r.Refused[0], "metrics_listen: listening for metrics: listen tcp "+all) {
		t.Fatalf("reload to %s beside a socket on 127.0.0.2: %+v, want metrics_listen refused", all, r)
	}
	resp, err := http.Get("http://" + one + "/metrics")
	if err != nil {
		t.Fatalf("metrics not served on %s again after a refused move: %v", one, err)
	}
	resp.Body.Close()
}

// A reload that moves metrics_listen and gives its old address to a new
// listener applies both, and so does one that swaps the addresses of the
// metrics endpoint and a listener: the listeners that go away stop, the
// endpoint moves, then the new listeners bind.
func TestReloadListenerTakesMetricsAddress(t *testing.T) {
	l := newLab(t)
	x, y := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	globals := func(metrics string) string { return "control_socket: SOCKET\nmetrics_listen: " + metrics }
	mgmt := func(bind string) string {
		return "  - name: mgmt\n    bind: " + bind + "\n    backends: [{name: c, address: " + l.c.addr() + ", check: {type: none}}]\n"
	}
	h := newHarness(t, l.file("control_socket: SOCKET", globals(x)))
	startChecked(t, h)
	serves := func(addr string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := roundTrip(c, []byte("x")); err != nil {
			t.Fatalf("listener mgmt on %s: %v", addr, err)
		}
	}
	metrics := func(addr string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatalf("metrics not served on %s: %v", addr, err)
		}
		resp.Body.Close()
	}
	r := h.reload(l.file("control_socket: SOCKET", globals(y)) + mgmt(x))
	if !r.OK() || !slices.Equal(r.Applied, []string{"metrics_listen " + y, "listener mgmt added on " + x}) {
		t.Fatalf("metrics moved, its address to a new listener: %+v", r)
	}
	serves(x)
	metrics(y)
	r = h.reload(l.file("control_socket: SOCKET", globals(x)) + mgmt(y))
	if !r.OK() || !slices.Equal(r.Applied, []string{"metrics_listen " + x, "listener mgmt moved on " + y}) {
		t.Fatalf("metrics and listener swapped: %+v", r)
	}
	serves(y)
	metrics(x)
}

// A reload that adds a VIP to a running instance makes a later Release
// close that VIP's sessions too.
func TestReloadVIPAddedClosedOnRelease(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	h.reloadFile(l.file("virtual_ipaddress: [192.0.2.100/32]", "virtual_ipaddress: [192.0.2.100/32, 192.0.2.101/32]"))
	h.d.mu.Lock()
	o := h.d.units["v"].vips.(*releasingOwner)
	h.d.mu.Unlock()
	rec := &closerRec{}
	o.listeners = func() []sessionCloser { return []sessionCloser{rec} }
	if err := o.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")}
	if len(rec.got) != 1 || !slices.Equal(rec.got[0], want) {
		t.Fatalf("Release closed the sessions of %v, want %v", rec.got, want)
	}
}

// A reload over the control socket that removes a listener with a live
// session answers without waiting for the session's drain: the session
// still works once rmqlb reload has its answer, and the reload is OK.
func TestReloadRemoveListenerAnswersBeforeDrain(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	port2 := freeport.Addr(t, "127.0.0.1")
	two := l.file() + "  - name: mgmt\n    bind: " + port2 + "\n    graceful_timeout: 1m\n    backends: [{name: a, address: " + l.a.addr() + ", check: {type: none}}]\n"
	if r := h.reload(two); !r.OK() {
		t.Fatal(r)
	}
	c, err := net.Dial("tcp", port2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	h.write(l.file())
	var res control.Reload
	if err := control.Call(h.socket(), control.Request{Command: "reload"}, &res, ReloadCommandTimeout); err != nil {
		t.Fatalf("rmqlb reload: %v", err)
	}
	if !res.OK() || !strings.Contains(strings.Join(res.Applied, ";"), "listener mgmt removed") {
		t.Fatalf("reload: %+v", res)
	}
	if err := roundTrip(c, []byte("y")); err != nil {
		t.Fatalf("the removed listener's session after the reload answered: %v", err)
	}
	if _, err := net.DialTimeout("tcp", port2, time.Second); err == nil {
		t.Fatal("the removed listener still accepts")
	}
}
