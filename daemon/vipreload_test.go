package daemon

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
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
	l.bind = freePort(t, vipReloadVIP)
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
