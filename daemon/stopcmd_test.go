package daemon

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/vrrp"
)

// TestVRRPCommandWhileStoppingRefused: `rmqlb vrrp release` or `ready`
// asked while the daemon stops (its VRRP instances stopped, its listeners
// draining) is refused: nothing can apply it, and an answer of success
// would tell the operator the host was released when it simply stops.
func TestVRRPCommandWhileStoppingRefused(t *testing.T) {
	l := newLab(t)
	slow := l.file("policy: roundrobin", "policy: roundrobin\n    graceful_timeout: 3s")
	h := newHarness(t, slow)
	startMaster(t, h)
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	h.cancel()
	h.cancel = nil
	// The listener stops accepting once the VRRP instances have stopped.
	deadline := time.Now().Add(5 * time.Second)
	for {
		cc, err := net.DialTimeout("tcp", l.bind, 100*time.Millisecond)
		if err != nil {
			break
		}
		cc.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts 5 s after the stop")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, args := range [][]string{{"release", "v"}, {"ready", "v"}} {
		s, err := h.vrrpCommand(args...)
		if err == nil || !strings.Contains(err.Error(), "stopping") {
			t.Errorf("vrrp %q while the daemon stops: %+v, %v; want refused because the daemon is stopping", args, s, err)
		}
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run has not returned 15 s after the stop")
	}
}

// TestStartInstanceMissingInterfaceWaits: a VRRP instance whose interface
// does not exist at start (a bond or VLAN created later at boot) does not
// fail the start: the daemon says READY=1 once the instance runs, in
// FAULT naming the interface, and serves on, its listeners too.
func TestStartInstanceMissingInterfaceWaits(t *testing.T) {
	mgr := listenNotify(t)
	l := newLab(t)
	h := newHarness(t, l.file("interface: eth0", "interface: nosuch0"), func(o *Options) {
		orig := o.NewVRRP
		o.NewVRRP = func(in *config.VRRPInstance, log *zap.Logger, reg prometheus.Registerer) (vrrp.Transport, VIPOwner, error) {
			_, ow, err := orig(in, log, reg)
			return nil, ow, err // the real transport, opened by Run on in.Interface
		}
	})
	h.start()
	h.checks.get(idA).answer(t, healthcheck.Result{})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	select {
	case <-h.d.Ready():
	case err := <-h.done:
		h.cancel = nil
		t.Fatalf("the daemon stopped on a missing interface: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon is not ready 10 s after its first checks")
	}
	// Sent just after Ready is closed.
	if msg := mgr.NextLifecycle(t, nil); !msg.Has("READY=1") {
		t.Fatalf("notification %q, want READY=1 from a daemon whose instance waits for its interface", msg)
	}
	s := h.d.Status()
	if len(s.VRRP) != 1 || s.VRRP[0].State != vrrp.StateFault || !strings.Contains(s.VRRP[0].Reason, "interface nosuch0 does not exist") {
		t.Fatalf("status: %+v, want the instance in FAULT naming its interface", s.VRRP)
	}
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatalf("the listener does not serve beside the waiting instance: %v", err)
	}
	defer c.Close()
	if err := roundTrip(c, []byte("x")); err != nil {
		t.Fatalf("the listener does not serve beside the waiting instance: %v", err)
	}
	// The file's warning names the interface while it is missing, and
	// goes once the interface exists.
	missing := `this host has no interface "nosuch0"`
	if ws := h.d.Status().ConfigWarnings; !slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, missing) }) {
		t.Fatalf("warnings %q, want one naming the missing interface", ws)
	}
	h.d.mu.Lock()
	h.d.lookupInterface = func(name string) (*net.Interface, error) {
		if name == "nosuch0" {
			return &net.Interface{Name: name, Index: 99}, nil
		}
		return net.InterfaceByName(name)
	}
	h.d.mu.Unlock()
	if ws := h.d.Status().ConfigWarnings; slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, missing) }) {
		t.Fatalf("warnings once the interface exists %q, want none naming it", ws)
	}
}

// TestSystemdNotifySIGHUPThenStopBeforeReady: a reload asked for (SIGHUP)
// while the daemon starts, which then stops before it is ready, is not
// run: the daemon says neither RELOADING=1 nor READY=1, only STOPPING=1.
// Run's main loop finds both the stop and the reload waiting; each round
// of the test gives it that choice anew.
func TestSystemdNotifySIGHUPThenStopBeforeReady(t *testing.T) {
	for i := range 8 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			mgr := listenNotify(t)
			l := newLab(t)
			h := newHarness(t, l.file())
			h.d.RequestReload()
			h.start()
			if msg := mgr.Next(t); msg.Lifecycle() {
				t.Fatalf("first notification %q, want only a starting status", msg)
			}
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			got := mgr.Drain(t)
			if len(got) != 1 || !got[0].Has("STOPPING=1") {
				t.Fatalf("notifications of a daemon asked to reload, then stopped while starting: %q, want STOPPING=1 alone", got)
			}
			if s := h.d.Status(); s.Reload != nil {
				t.Fatalf("a reload ran after the stop: %+v", s.Reload)
			}
		})
	}
}
