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
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stalledChildEnv tells the child of TestUserTimeoutEndsStalledSession
// which side goes silent ("backend" or "client") and the TCP user timeout
// (a time.Duration; "0s": none), separated by a space.
const stalledChildEnv = "RMQLB_BALANCER_STALLED"

// stalledWindow is how long the child watches a session whose peer
// stopped acknowledging: 10 times the TCP user timeout it is run with,
// and a small part of the 15 minutes the kernel retransmits for without.
const stalledWindow = 10 * time.Second

// A session whose backend host (or client host) stops acknowledging while
// bytes are on their way to it ends within about the TCP user timeout, and
// the other side is told; without one it is still open long after. The
// child test runs the listener in a network namespace of its own (unshare
// --net) and the silent side in a second one behind a veth pair, and takes
// that side's end of the pair down: what the proxy sends it is then lost,
// as to a host that lost its power. Both namespaces end with the child
// process.
func TestUserTimeoutEndsStalledSession(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces of its own")
	}
	for _, side := range []string{"backend", "client"} {
		for _, tc := range []struct {
			name string
			ut   time.Duration
		}{{"with", time.Second}, {"without", 0}} {
			t.Run(side+"/"+tc.name, func(t *testing.T) {
				const name = "TestUserTimeoutStalledChild"
				cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
				cmd.Env = append(os.Environ(), childEnv+"="+name, stalledChildEnv+"="+side+" "+tc.ut.String())
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "--- PASS: "+name) {
					t.Fatalf("child in a network namespace of its own: %v\n%s", err, out)
				}
				t.Logf("child output:\n%s", out)
			})
		}
	}
}

func TestUserTimeoutStalledChild(t *testing.T) {
	if !isChild(t.Name()) {
		t.Skip("runs in a child process started by TestUserTimeoutEndsStalledSession")
	}
	side, uts, _ := strings.Cut(os.Getenv(stalledChildEnv), " ")
	ut, err := time.ParseDuration(uts)
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
	b := newPeerNamespace(t)
	const peerMAC = "02:00:00:00:00:02"
	run("ip", "link", "add", "stallA", "type", "veth", "peer", "name", "stallB", "address", peerMAC, "netns", fmt.Sprint(b.tid))
	run("ip", "addr", "add", "10.254.0.1/24", "dev", "stallA")
	run("ip", "link", "set", "stallA", "up")
	// A fixed neighbour entry: the proxy's retransmissions then leave the
	// host (and are lost) from the first, instead of waiting in it while
	// the peer's address is being resolved again, which the kernel does
	// not count towards the TCP user timeout.
	run("ip", "neigh", "replace", "10.254.0.2", "lladdr", peerMAC, "dev", "stallA", "nud", "permanent")
	inB := func(args ...string) { run(append([]string{"nsenter", "--net=" + b.path(), "ip"}, args...)...) }
	inB("addr", "add", "10.254.0.2/24", "dev", "stallB")
	inB("link", "set", "stallB", "up")

	// The silent side takes everything; the other answers the first
	// byte, then sends for as long as it can. told is closed when the
	// sending side's connection ends.
	told := make(chan struct{})
	var tellOnce sync.Once
	send := func(c net.Conn) {
		defer tellOnce.Do(func() { close(told) })
		buf := make([]byte, 16<<10)
		for {
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Write(buf); err != nil && !os.IsTimeout(err) {
				return
			}
			if c.SetReadDeadline(time.Now()) == nil {
				if _, err := c.Read(buf[:1]); err != nil && !os.IsTimeout(err) {
					return
				}
			}
		}
	}
	take := func(c net.Conn) { io.Copy(io.Discard, struct{ io.Reader }{c}) }
	var r *loggedListener
	var c net.Conn
	why := EndBrokerReset
	switch side {
	case "backend":
		srv := b.serve(t, "10.254.0.2:0", func(c net.Conn) {
			var one [1]byte
			if _, err := io.ReadFull(c, one[:]); err == nil {
				c.Write(one[:])
				take(c)
			}
		})
		cfg := baseConfig(backendsOf(srv))
		cfg.TCPUserTimeout = ut
		r = startLogged(t, cfg)
		c = r.dial(t)
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		go send(c)
	case "client":
		why = EndClientReset
		srv := newServer(t, "127.0.0.1", func(c net.Conn) {
			var one [1]byte
			if _, err := io.ReadFull(c, one[:]); err == nil {
				c.Write(one[:])
				send(c)
			}
		})
		cfg := baseConfig(backendsOf(srv))
		cfg.Bind = netip.MustParseAddrPort("10.254.0.1:0")
		cfg.TCPUserTimeout = ut
		r = startLogged(t, cfg)
		c = b.dial(t, r.Addr().String())
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		go take(c)
	default:
		t.Fatalf("side %q", side)
	}

	// The silent side's host goes: its end of the link is down, what the
	// proxy sends it is lost. The other side goes on sending.
	inB("link", "set", "stallB", "down")
	start := time.Now()
	ended := time.Duration(0)
	for time.Since(start) < stalledWindow {
		if r.Snapshot().Active == 0 {
			ended = time.Since(start)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Close() // ends the sending of the case without a user timeout
	switch {
	case ut > 0 && ended == 0:
		t.Fatalf("the session with a TCP user timeout of %v is still open %v after its %s stopped acknowledging", ut, stalledWindow, side)
	case ut > 0:
		t.Logf("the session ended %v after its %s stopped acknowledging (TCP user timeout %v)", ended, side, ut)
		if m := r.next(t); m["reason"] != why.String() {
			t.Errorf("session log line %v, want reason %v", m, why)
		}
		select {
		case <-told:
		case <-time.After(5 * time.Second):
			t.Fatal("the other side was not told within 5 s that its session ended")
		}
	case ended != 0:
		t.Fatalf("the session without a TCP user timeout ended %v after its %s stopped acknowledging", ended, side)
	default:
		t.Logf("the session without a TCP user timeout is still open %v after its %s stopped acknowledging", stalledWindow, side)
	}
}

// peerNamespace is a network namespace of an OS thread of its own,
// made by unshare(CLONE_NEWNET) on it. The thread runs only the
// goroutine that made it, which ends still locked to it when the test
// ends: the Go runtime then ends the thread instead of reusing it. The
// namespace lasts while the thread or a socket made in it lasts.
type peerNamespace struct {
	tid  int
	do   chan func()
	done chan struct{}
}

// newPeerNamespace starts the namespace's thread; the test's cleanup
// stops it.
func newPeerNamespace(t *testing.T) *peerNamespace {
	t.Helper()
	b := &peerNamespace{do: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(b.done)
		runtime.LockOSThread() // never unlocked: see peerNamespace
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
func (b *peerNamespace) path() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), b.tid)
}

// serve runs a test server on addr in the namespace.
func (b *peerNamespace) serve(t *testing.T, addr string, handler func(net.Conn)) *testServer {
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

// dial connects to addr from the namespace.
func (b *peerNamespace) dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	ran := make(chan struct{})
	b.do <- func() {
		defer close(ran)
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	<-ran
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
