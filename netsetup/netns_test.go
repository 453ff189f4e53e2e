package netsetup

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// The integration tests run as root in two network namespaces they create,
// joined by a veth pair:
//
//	ns A: veth IfA 02:00:00:00:0a:01 10.201.0.1/24 fd00:201::1/64   <- code under test
//	ns B: veth IfB 02:00:00:00:0b:01 10.201.0.2/24 fd00:201::2/64   <- the "client" side
//
// A VIPSet starts goroutines and opens sockets on whatever thread it runs,
// so switching one thread into a namespace is not enough: each test re-runs
// itself (the test binary, -test.run=^Name$) under `ip netns exec A`, where
// every thread of the process is in A. The parent creates and deletes the
// namespaces; the child does the work and the assertions. Nothing is ever
// sent in the root namespace.

// labEnv carries the lab description to the child process.
const labEnv = "RMQLB_NETSETUP_LAB"

// lab describes the namespaces of one test.
type lab struct {
	NSA, NSB   string
	IfA, IfB   string
	MACA, MACB string
}

// setupLab returns the lab when running as the child inside namespace A.
// In the parent it creates the namespaces, runs the calling test inside A,
// fails t if the child failed, and returns nil: the caller must then
// return.
func setupLab(t *testing.T) *lab {
	t.Helper()
	if env := os.Getenv(labEnv); env != "" {
		var l lab
		if err := json.Unmarshal([]byte(env), &l); err != nil {
			t.Fatalf("decoding %s: %v", labEnv, err)
		}
		return &l
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
	if testing.Short() {
		t.Skip("namespace test skipped in -short mode")
	}
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	l := lab{
		NSA: "rmqlbns-" + id + "-a", NSB: "rmqlbns-" + id + "-b",
		IfA: "rv" + id + "a", IfB: "rv" + id + "b", // 9 bytes: label "rvXXXXXXa:rmqlb" fits exactly
		MACA: "02:00:00:00:0a:01", MACB: "02:00:00:00:0b:01",
	}
	for _, ns := range []string{l.NSA, l.NSB} {
		run(t, "ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("deleting namespace %s: %v: %s", ns, err, out)
			}
		})
	}
	// The veth ends are created directly inside their namespaces.
	run(t, "ip", "link", "add", l.IfA, "netns", l.NSA, "address", l.MACA, "type", "veth",
		"peer", "name", l.IfB, "netns", l.NSB, "address", l.MACB)
	for _, x := range []struct{ ns, ifname, v4, v6 string }{
		{l.NSA, l.IfA, "10.201.0.1/24", "fd00:201::1/64"},
		{l.NSB, l.IfB, "10.201.0.2/24", "fd00:201::2/64"},
	} {
		run(t, "ip", "-n", x.ns, "link", "set", "lo", "up")
		run(t, "ip", "-n", x.ns, "addr", "add", x.v4, "dev", x.ifname)
		run(t, "ip", "-n", x.ns, "addr", "add", x.v6, "dev", x.ifname, "nodad")
		run(t, "ip", "-n", x.ns, "link", "set", x.ifname, "up")
	}
	// The link comes up asynchronously (linkwatch), and IPv6 configures
	// the interface (link-local address, multicast route) only then; wait
	// for that in both namespaces, or an early neighbour advertisement is
	// dropped as unroutable.
	for _, ns := range []string{l.NSA, l.NSB} {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(run(t, "ip", "-n", ns, "-6", "route", "show", "table", "local"), "multicast ff00::/8") {
			if time.Now().After(deadline) {
				t.Fatalf("IPv6 on the veth in %s not ready after 10s", ns)
			}
			time.Sleep(20 * time.Millisecond) // polling the kernel's set-up, not passing time for the code under test
		}
	}
	js, _ := json.Marshal(l)
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("finding test binary: %v", err)
	}
	args := []string{"netns", "exec", l.NSA, exe, "-test.run=^" + t.Name() + "$", "-test.count=1", "-test.v"}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), labEnv+"="+string(js))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("test in namespace %s failed: %v\n%s", l.NSA, err, out)
	}
	t.Logf("test in namespace %s:\n%s", l.NSA, out)
	return nil
}

// run runs a command and fails the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// addVeth adds a veth pair in the current namespace (the test's
// namespace A) and sets both ends up; the namespace's deletion removes it.
func addVeth(t *testing.T, name, peer string) {
	t.Helper()
	run(t, "ip", "link", "add", name, "type", "veth", "peer", "name", peer)
	run(t, "ip", "link", "set", name, "up")
	run(t, "ip", "link", "set", peer, "up")
}

// inNS runs fn on a thread switched into the named namespace, then switches
// back. Only for short, synchronous work such as opening a socket (a socket
// stays in the namespace it was created in). If switching back fails the
// thread is left locked, so the runtime discards it.
func inNS(t *testing.T, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("getting current namespace: %v", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("opening namespace %s: %v", name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("entering namespace %s: %v", name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Errorf("returning from namespace %s: %v (thread discarded)", name, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// mustMAC parses a MAC address.
func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	hw, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return hw
}
