package vrrp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/netsetup"
)

// hostEnv makes TestVRRPHostHelper run one host (a JSON hostSpec).
const hostEnv = "RMQLB_VRRP_HOST"

// hostSpec is what TestVRRPHostHelper runs.
type hostSpec struct {
	Interface string
	Priority  uint8
	VIP       netip.Prefix
	Interval  time.Duration
}

// hostStatus is what TestVRRPHostHelper answers.
type hostStatus struct {
	VRRP Snapshot
	VIPs netsetup.VIPSetSnapshot
}

// TestVRRPHostHelper is not a test: started by the ownership tests inside
// a host's network namespace (ip netns exec, so that every thread of the
// process is in it), it runs an Instance with a VIPSet as its Owner as the
// daemon does, and answers every line on stdin with one line of JSON, a
// hostStatus. It stops when stdin closes.
func TestVRRPHostHelper(t *testing.T) {
	env := os.Getenv(hostEnv)
	if env == "" {
		t.Skip("helper process for the VIP ownership tests")
	}
	var spec hostSpec
	if err := json.Unmarshal([]byte(env), &spec); err != nil {
		t.Fatal(err)
	}
	vs, err := netsetup.NewVIPSetWithOptions(netsetup.VIPConfig{
		Interface: spec.Interface, VIPs: []netip.Prefix{spec.VIP},
		GARP: netsetup.GARPConfig{Count: 1, Refresh: -1},
	}, netsetup.VIPSetOptions{Recheck: spec.Interval})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := NewInstance(testConfig(func(c *Config) {
		c.Interface = spec.Interface
		c.Priority = spec.Priority
		c.AdvertInterval = spec.Interval
		c.VIPs = []netip.Prefix{spec.VIP}
	}), Options{Owner: vs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); vs.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := inst.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	sc := bufio.NewScanner(os.Stdin)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		if err := enc.Encode(hostStatus{VRRP: inst.Snapshot(), VIPs: vs.Snapshot()}); err != nil {
			t.Error(err)
			break
		}
	}
	cancel()
	wg.Wait()
}

// vrrpHost is a TestVRRPHostHelper process.
type vrrpHost struct {
	name   string
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr bytes.Buffer
}

// startHost runs TestVRRPHostHelper in namespace i of n until the test
// ends.
func startHost(t *testing.T, n *testNetns, i int, prio uint8, vip netip.Prefix, interval time.Duration) *vrrpHost {
	t.Helper()
	spec, _ := json.Marshal(hostSpec{Interface: n.ifname[i], Priority: prio, VIP: vip, Interval: interval})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &vrrpHost{name: n.ns[i], lines: make(chan string, 16)}
	h.cmd = exec.Command("ip", "netns", "exec", n.ns[i], exe, "-test.run=^TestVRRPHostHelper$", "-test.count=1")
	h.cmd.Env = append(os.Environ(), hostEnv+"="+string(spec))
	h.cmd.Stderr = &h.stderr
	if h.in, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(h.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		h.in.Close()
		done := make(chan error, 1)
		go func() { done <- h.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("host %s: %v\n%s", h.name, err, h.stderr.String())
			}
		case <-time.After(10 * time.Second):
			h.cmd.Process.Kill()
			<-done
			t.Errorf("host %s did not stop", h.name)
		}
	})
	return h
}

// status asks the host for its state.
func (h *vrrpHost) status(t *testing.T) hostStatus {
	t.Helper()
	if _, err := io.WriteString(h.in, "\n"); err != nil {
		t.Fatalf("host %s: %v\n%s", h.name, err, h.stderr.String())
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				t.Fatalf("host %s exited\n%s", h.name, h.stderr.String())
			}
			if !strings.HasPrefix(line, "{") {
				continue // the test binary's own output
			}
			var s hostStatus
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatalf("host %s: %v: %s", h.name, err, line)
			}
			return s
		case <-timeout:
			t.Fatalf("host %s did not answer\n%s", h.name, h.stderr.String())
		}
	}
}

// waitHosts polls the two hosts until cond holds for their states.
func waitHosts(t *testing.T, hosts [2]*vrrpHost, what string, cond func(a, b hostStatus) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) { // polling real time; the protocol runs on it
		a, b := hosts[0].status(t), hosts[1].status(t)
		if cond(a, b) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 10s: A %v %+v (fault %q), B %v %+v (fault %q)", what,
				a.VRRP.State, a.VIPs.VIPs, a.VRRP.OwnerFault, b.VRRP.State, b.VIPs.VIPs, b.VRRP.OwnerFault)
		}
	}
}

// TestVIPOwnershipNetns runs two hosts as the daemon does (Instance with a
// VIPSet, real sockets) and takes the master's VIP away: flushed, it is
// put back at once and counted, the master staying master; when it cannot
// be put back (somebody else's address holds its IP), the master resigns
// to FAULT and the other host becomes MASTER; once the conflict is gone
// the first host comes back and, with the higher priority, takes over
// again.
func TestVIPOwnershipNetns(t *testing.T) {
	n := newTestNetns(t)
	vip := netip.MustParsePrefix("10.99.7.100/24")
	const interval = 200 * time.Millisecond
	hosts := [2]*vrrpHost{
		startHost(t, n, 0, 150, vip, interval),
		startHost(t, n, 1, 100, vip, interval),
	}
	holds := func(s hostStatus) bool { return s.VIPs.VIPs[0].Present && s.VIPs.VIPs[0].Owned }
	waitHosts(t, hosts, "A master with the VIP, B backup", func(a, b hostStatus) bool {
		return a.VRRP.State == StateMaster && holds(a) && b.VRRP.State == StateBackup && !b.VIPs.VIPs[0].Present
	})
	transitions := hosts[0].status(t).VRRP.Counters.Transitions

	// A network manager flushes the VIP on the master.
	start := time.Now()
	run(t, "ip", "-n", n.ns[0], "addr", "del", vip.String(), "dev", n.ifname[0])
	waitHosts(t, hosts, "VIP put back on A", func(a, b hostStatus) bool {
		return holds(a) && a.VIPs.VIPs[0].Readded == 1
	})
	t.Logf("VIP back on the master (as its status says) %v after `ip addr del` started (advert interval %v)", time.Since(start), interval)
	if a := hosts[0].status(t); a.VRRP.State != StateMaster || a.VRRP.Counters.Transitions != transitions {
		t.Fatalf("A %v after %d transitions (%d before): the flush must not move the VIP", a.VRRP.State, a.VRRP.Counters.Transitions, transitions)
	}

	// Somebody adds the VIP's IP by hand, then ours goes: it cannot be
	// put back. A resigns; B takes over.
	run(t, "ip", "-n", n.ns[0], "addr", "add", "10.99.7.100/32", "dev", n.ifname[0])
	start = time.Now()
	run(t, "ip", "-n", n.ns[0], "addr", "del", vip.String(), "dev", n.ifname[0])
	waitHosts(t, hosts, "A in FAULT, B master with the VIP", func(a, b hostStatus) bool {
		return a.VRRP.State == StateFault && b.VRRP.State == StateMaster && holds(b)
	})
	t.Logf("B master with the VIP (as the status says) %v after A's VIP went", time.Since(start))
	a := hosts[0].status(t)
	if a.VRRP.OwnerFault == "" || a.VIPs.Fault == "" || a.VRRP.Counters.OwnerFaults != 1 || a.VIPs.Held {
		t.Fatalf("A in FAULT: owner fault %q, VIP fault %q, faults %d, held %v", a.VRRP.OwnerFault, a.VIPs.Fault, a.VRRP.Counters.OwnerFaults, a.VIPs.Held)
	}
	if b := hosts[1].status(t); !strings.Contains(b.VRRP.Reason, "priority 0") {
		t.Errorf("B took over for %q, want A's priority-0 advert", b.VRRP.Reason)
	}

	// The conflict is gone: A comes back and preempts.
	run(t, "ip", "-n", n.ns[0], "addr", "del", "10.99.7.100/32", "dev", n.ifname[0])
	waitHosts(t, hosts, "A master again with the VIP, B backup", func(a, b hostStatus) bool {
		return a.VRRP.State == StateMaster && holds(a) && a.VRRP.OwnerFault == "" && b.VRRP.State == StateBackup && !b.VIPs.VIPs[0].Present
	})
}
