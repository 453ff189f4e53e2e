package balancer

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stalledChildEnv carries the TCP user timeout of the child of
// TestUserTimeoutEndsStalledSession (a time.Duration; "0s": none).
const stalledChildEnv = "RMQLB_BALANCER_STALLED_USER_TIMEOUT"

// stalledWindow is how long the child watches a session whose backend
// stopped acknowledging: 10 times the TCP user timeout it is run with,
// and a minute's fraction of the 15 the kernel retransmits for without.
const stalledWindow = 10 * time.Second

// A session whose backend host stops acknowledging while the client keeps
// sending ends within about the TCP user timeout, and the client is told;
// without one it is still open long after. The child test runs the
// listener in a network namespace of its own (unshare --net), the backend
// in a second one behind a veth pair, and takes the backend's end of the
// pair down: the proxy's bytes to it are then lost, as to a host that lost
// its power. Both namespaces end with the child process.
func TestUserTimeoutEndsStalledSession(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces of its own")
	}
	for _, tc := range []struct {
		name string
		ut   time.Duration
	}{{"with", time.Second}, {"without", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			const name = "TestUserTimeoutStalledChild"
			cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), childEnv+"="+name, stalledChildEnv+"="+tc.ut.String())
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
				t.Fatalf("child in a network namespace of its own: %v\n%s", err, out)
			}
			t.Logf("child output:\n%s", out)
		})
	}
}

func TestUserTimeoutStalledChild(t *testing.T) {
	if !isChild(t.Name()) {
		t.Skip("runs in a child process started by TestUserTimeoutEndsStalledSession")
	}
	ut, err := time.ParseDuration(os.Getenv(stalledChildEnv))
	if err != nil {
		t.Fatal(err)
	}
	// This process has a network namespace of its own: nothing it does
	// reaches the host's interfaces.
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("ip", "link", "set", "lo", "up")
	b := newBackendNamespace(t)
	const backendMAC = "02:00:00:00:00:02"
	run("ip", "link", "add", "stallA", "type", "veth", "peer", "name", "stallB", "address", backendMAC, "netns", fmt.Sprint(b.tid))
	run("ip", "addr", "add", "10.254.0.1/24", "dev", "stallA")
	run("ip", "link", "set", "stallA", "up")
	// A fixed neighbour entry: the proxy's retransmissions then leave the
	// host (and are lost) from the first, instead of waiting in it while
	// the backend's address is being resolved again, which the kernel
	// does not count towards the TCP user timeout.
	run("ip", "neigh", "replace", "10.254.0.2", "lladdr", backendMAC, "dev", "stallA", "nud", "permanent")
	inB := func(args ...string) { run(append([]string{"nsenter", "--net=" + b.path(), "ip"}, args...)...) }
	inB("addr", "add", "10.254.0.2/24", "dev", "stallB")
	inB("link", "set", "stallB", "up")

	// The backend answers the first byte, then takes everything.
	srv := b.serve(t, "10.254.0.2:0", func(c net.Conn) {
		var one [1]byte
		if _, err := io.ReadFull(c, one[:]); err != nil {
			return
		}
		c.Write(one[:])
		io.Copy(io.Discard, struct{ io.Reader }{c})
	})
	cfg := baseConfig(backendsOf(srv))
	cfg.TCPUserTimeout = ut
	r := startLogged(t, cfg)
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}

	// The backend's host goes: its end of the link is down, what the
	// proxy sends it is lost. The client goes on sending.
	inB("link", "set", "stallB", "down")
	start := time.Now()
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	stop := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		buf := make([]byte, 16<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Write(buf); err != nil && !os.IsTimeout(err) {
				return
			}
		}
	}()
	defer func() { close(stop); <-wrote }()

	ended := time.Duration(0)
	for time.Since(start) < stalledWindow {
		if r.Snapshot().Active == 0 {
			ended = time.Since(start)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	switch {
	case ut > 0 && ended == 0:
		t.Fatalf("the session with a TCP user timeout of %v is still open %v after its backend stopped acknowledging", ut, stalledWindow)
	case ut > 0:
		t.Logf("the session ended %v after its backend stopped acknowledging (TCP user timeout %v)", ended, ut)
		if m := r.next(t); m["reason"] != EndBrokerReset.String() {
			t.Errorf("session log line %v, want reason %v", m, EndBrokerReset)
		}
		select {
		case err := <-readErr:
			t.Logf("the client was told: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("the client was not told within 5 s that its session ended")
		}
	case ended != 0:
		t.Fatalf("the session without a TCP user timeout ended %v after its backend stopped acknowledging", ended)
	default:
		t.Logf("the session without a TCP user timeout is still open %v after its backend stopped acknowledging", stalledWindow)
	}
}

// backendNamespace is a network namespace of an OS thread of its own,
// made by unshare(CLONE_NEWNET) on it. The thread runs only the
// goroutine that made it, which ends still locked to it when the test
// ends: the Go runtime then ends the thread instead of reusing it. The
// namespace lasts while the thread or a socket made in it lasts.
type backendNamespace struct {
	tid  int
	do   chan func()
	done chan struct{}
}

// newBackendNamespace starts the namespace's thread; the test's cleanup
// stops it.
func newBackendNamespace(t *testing.T) *backendNamespace {
	t.Helper()
	b := &backendNamespace{do: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(b.done)
		runtime.LockOSThread() // never unlocked: see backendNamespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			started <- fmt.Errorf("unsharing the network namespace: %w", err)
			return
		}
		b.tid = unix.Gettid()
		started <- nil
		for fn := range b.do {
			fn()
		}
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(b.do); <-b.done })
	return b
}

// path is the namespace's file, for nsenter.
func (b *backendNamespace) path() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), b.tid)
}

// serve runs a test server on addr in the namespace.
func (b *backendNamespace) serve(t *testing.T, addr string, handler func(net.Conn)) *testServer {
	t.Helper()
	var ln net.Listener
	var err error
	ran := make(chan struct{})
	b.do <- func() {
		defer close(ran)
		ln, err = net.Listen("tcp", addr)
	}
	<-ran
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
