package daemon

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/internal/freeport"
	"github.com/rmqlb/rmqlb/vrrp"
)

// vipReloadChildEnv makes TestReloadedVIPListenerChild run: set by
// TestReloadedVIPListenerClosesAtOnce in the child it starts in a network
// namespace of its own.
const vipReloadChildEnv = "RMQLB_DAEMON_VIP_RELOAD_CHILD"

// vipReloadVIP is the VIP of the child's configuration, an address of its
// private namespace's loopback interface (a VIP may not be a loopback
// address, so the listener can only be bound to a VIP there).
const vipReloadVIP = "10.250.0.1"

// TestReloadedVIPListenerClosesAtOnce: a listener bound to a VIP closes its
// sessions at once when it stops (the VIP moves to the new master on stop,
// so its clients could no longer reach this host), also after a reload
// changed it, whatever its graceful_timeout says. The daemon runs in a
// child process in a network namespace of its own (unshare --net), where
// the VIP is a local address the test's client can connect to.
func TestReloadedVIPListenerClosesAtOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace of its own")
	}
	cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^TestReloadedVIPListenerChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), vipReloadChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReloadedVIPListenerChild") {
		t.Fatalf("child in its own network namespace: %v\n%s", err, out)
	}
}

func TestReloadedVIPListenerChild(t *testing.T) {
	if os.Getenv(vipReloadChildEnv) == "" {
		t.Skip("runs in a child process started by TestReloadedVIPListenerClosesAtOnce")
	}
	// This process has a network namespace of its own: nothing it does
	// reaches the host's interfaces, and the namespace goes with it.
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", vipReloadVIP + "/32", "dev", "lo"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	l := newLab(t)
	l.bind = freeport.Addr(t, vipReloadVIP)
	file := func(weight string) string {
		return l.file("virtual_ipaddress: [192.0.2.100/32]", "virtual_ipaddress: ["+vipReloadVIP+"/32]",
			"policy: roundrobin", "policy: roundrobin\n    graceful_timeout: 1h",
			"weight: 10}", "weight: "+weight+"}")
	}
	h := newHarness(t, file("10"))
	startChecked(t, h)
	if r := h.reload(file("3")); !r.OK() || len(r.Applied) != 1 || !strings.Contains(r.Applied[0], "listener amqp") {
		t.Fatalf("reload of the VIP-bound listener: %+v", r)
	}
	sess := openSession(t, l)

	h.cancel()
	h.cancel = nil
	if !closedByPeer(sess) {
		t.Error("the reloaded VIP-bound listener did not close its session at once on stop (graceful_timeout 1h)")
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not stop within 10 s: the reloaded VIP-bound listener waits for its graceful_timeout")
	}
}

// refusedVIPChildEnv makes TestRefusedInstanceVIPListenerChild run: set by
// TestRefusedInstanceLeavesVIPListener in the child it starts in a network
// namespace of its own.
const refusedVIPChildEnv = "RMQLB_DAEMON_REFUSED_VIP_CHILD"

// TestRefusedInstanceLeavesVIPListener: a reload adds an instance whose VIP
// is a listener's bind, and the instance cannot be added. The listener,
// unchanged in the file, is left alone by that reload and by the same file
// again (no update at every reload), and it runs as what it is, on no VIP
// of the daemon: on stop its session drains for its graceful_timeout
// instead of being closed at once. Once the instance can be added, the
// same file makes the listener one on a VIP of the daemon, which closes
// its session at once on stop.
func TestRefusedInstanceLeavesVIPListener(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace of its own")
	}
	cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^TestRefusedInstanceVIPListenerChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), refusedVIPChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestRefusedInstanceVIPListenerChild") {
		t.Fatalf("child in its own network namespace: %v\n%s", err, out)
	}
}

func TestRefusedInstanceVIPListenerChild(t *testing.T) {
	if os.Getenv(refusedVIPChildEnv) == "" {
		t.Skip("runs in a child process started by TestRefusedInstanceLeavesVIPListener")
	}
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", vipReloadVIP + "/32", "dev", "lo"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	t.Run("refused", func(t *testing.T) { refusedInstanceVIPListener(t, false) })
	t.Run("added later", func(t *testing.T) { refusedInstanceVIPListener(t, true) })
}

// refusedInstanceVIPListener reloads twice a file that adds instance w on
// the listener's bind, w refused, then, when added, once more with w
// started, and checks how the listener stops.
func refusedInstanceVIPListener(t *testing.T, added bool) {
	l := newLab(t)
	l.bind = freeport.Addr(t, vipReloadVIP)
	base := l.file("policy: roundrobin", "policy: roundrobin\n    graceful_timeout: 1h")
	h := newHarness(t, base)
	orig := h.d.opt.NewVRRP
	var wFails atomic.Bool
	wFails.Store(true)
	h.d.opt.NewVRRP = func(in *config.VRRPInstance, log *zap.Logger, reg prometheus.Registerer) (vrrp.Transport, VIPOwner, error) {
		if in.Name == "w" && wFails.Load() {
			return nil, nil, errors.New("no such interface")
		}
		return orig(in, log, reg)
	}
	startChecked(t, h)
	w := "  - name: w\n    interface: eth0\n    virtual_router_id: 2\n    version: 3\n    priority: 100\n    virtual_ipaddress: [" + vipReloadVIP + "/32]\nlisteners:\n"
	withW := strings.Replace(base, "listeners:\n", w, 1)
	for i := range 2 {
		r := h.reload(withW)
		if len(r.Refused) != 1 || !strings.Contains(r.Refused[0], "vrrp instance w") {
			t.Fatalf("reload %d: %+v, want w refused", i+1, r)
		}
		if len(r.Applied) != 0 {
			t.Errorf("reload %d applied %q, want nothing (the listener's file is unchanged and w does not run)", i+1, r.Applied)
		}
	}
	if added {
		wFails.Store(false)
		r := h.reload(withW)
		if !r.OK() || !slices.Contains(r.Applied, "listener amqp: "+vipReloadVIP+" is a VIP of this daemon now") {
			t.Fatalf("reload with w started: %+v, want the listener on w's VIP", r)
		}
	}
	sess := openSession(t, l)
	h.cancel()
	h.cancel = nil
	if added {
		if !closedByPeer(sess) {
			t.Error("the listener on w's VIP did not close its session at once on stop")
		}
	} else {
		time.Sleep(500 * time.Millisecond) // a listener closing at once has closed by then
		if err := roundTrip(sess, []byte("y")); err != nil {
			t.Fatalf("the session of the listener on no VIP of the daemon was closed on stop, graceful_timeout 1h: %v", err)
		}
		sess.Close()
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon did not stop within 10 s of its last session's end")
	}
}
