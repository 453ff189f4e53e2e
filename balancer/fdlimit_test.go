package balancer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSpliceWithoutPipes checks that a session whose loop cannot make a
// pipe (pipe2 fails with EMFILE at the fd limit) still carries bulk data,
// copied instead of spliced.
func TestSpliceWithoutPipes(t *testing.T) {
	c := startChild(t, "TestSpliceWithoutPipesChild")
	c.finish()
}

func TestSpliceWithoutPipesChild(t *testing.T) {
	if !isChild(t.Name()) {
		t.Skip("runs in a child process started by TestSpliceWithoutPipes")
	}
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	conn := r.dial(t)
	if _, err := roundTrip(conn, []byte("small: no pipe yet")); err != nil {
		t.Fatal(err)
	}
	fds := exhaustFds(t)
	defer fds.restore()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != unix.EMFILE {
		t.Fatalf("pipe2 at the fd limit: %v, want EMFILE", err)
	}

	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: bulk, would splice
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		werr <- err
	}()
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("reading the echo of 1 MiB without pipes: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("echo differs from what was sent")
	}
	fds.restore()
	if _, err := roundTrip(conn, payload[:100_000]); err != nil {
		t.Fatalf("after the fd limit was lifted: %v", err)
	}
}

// TestAcceptAtFdLimit runs a listener (two loops sharing the listening
// socket with EPOLLEXCLUSIVE) in a child process that is out of fds, while
// clients keep arriving: the child must not spin (its CPU time is
// measured), every client must be refused within a bounded time and
// counted, a client accepted into the last free fd must be refused without
// blaming the backend, and once fds are free again clients are served.
func TestAcceptAtFdLimit(t *testing.T) {
	// The backend runs here: it must not share the child's fd limit.
	srv := newServer(t, "127.0.0.2", echo)
	c := startChild(t, "TestAcceptAtFdLimitChild", acceptChildBackendEnv+"="+srv.addr.String())
	addr := c.expect("listening")
	stats := func() (active, refusedFd, noBackend, connectFailures int) {
		c.send("stats")
		if _, err := fmt.Sscan(c.expect("stats"), &active, &refusedFd, &noBackend, &connectFailures); err != nil {
			t.Fatal(err)
		}
		return
	}

	// Clients arrive every 20 ms for 2 s while no fd is free.
	const period, every = 2 * time.Second, 20 * time.Millisecond
	cpu0, start := c.cpuTime(), time.Now()
	var conns []net.Conn
	clients := 0
	tick := time.NewTicker(every)
	for time.Since(start) < period {
		clients++
		// The kernel completes the handshake of a queued connection; the
		// reset of a refusal may come before Dial returns.
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		switch {
		case errors.Is(err, syscall.ECONNRESET):
		case err != nil:
			t.Fatalf("dialing the child: %v", err)
		default:
			conns = append(conns, conn)
			t.Cleanup(func() { conn.Close() })
		}
		<-tick.C
	}
	tick.Stop()
	cpu, wall := c.cpuTime()-cpu0, time.Since(start)
	t.Logf("out of fds, %d clients arriving over %v: the child used %v CPU (%.1f%% of one CPU; a spinning loop uses about 100%% per loop)",
		clients, wall.Round(time.Millisecond), cpu, 100*cpu.Seconds()/wall.Seconds())
	if cpu > wall*3/10 {
		t.Errorf("the child used %v CPU in %v out of fds: accept spins", cpu, wall)
	}
	start = time.Now()
	for i, conn := range conns {
		if err := waitClosed(conn, 5*time.Second); err != nil {
			t.Fatalf("client %d of %d: %v; want it refused while no fd is free", i, len(conns), err)
		}
	}
	t.Logf("%d clients reset while dialing, the other %d refused within %v of the end of the arrivals",
		clients-len(conns), len(conns), time.Since(start).Round(time.Millisecond))
	active, refusedFd, noBackend, fails := stats()
	if active != 0 || refusedFd != clients || noBackend != 0 || fails != 0 {
		t.Errorf("active %d, refused for lack of fds %d, no backend %d, connect failures %d; want 0, %d, 0, 0",
			active, refusedFd, noBackend, fails, clients)
	}

	// One free fd: the client is accepted into it, but no socket is left
	// for its backend connection.
	c.send("free1")
	c.expect("freed1")
	conn := dialAddr(t, addr)
	if err := waitClosed(conn, 5*time.Second); err != nil {
		t.Fatalf("client accepted into the last fd: %v; want it refused", err)
	}
	// The session's count is given back just after its fds are closed.
	deadline := time.Now().Add(5 * time.Second)
	for active, refusedFd, noBackend, fails = stats(); active != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		active, refusedFd, noBackend, fails = stats()
	}
	if active != 0 || refusedFd != clients+1 || noBackend != 0 || fails != 0 {
		t.Errorf("after the last fd: active %d, refused for lack of fds %d, no backend %d, connect failures %d; want 0, %d, 0, 0 (not the backend's fault)",
			active, refusedFd, noBackend, fails, clients+1)
	}

	// Fds are free again: clients are served.
	c.send("free")
	c.expect("freed")
	if _, err := roundTrip(dialAddr(t, addr), []byte("AMQP")); err != nil {
		active, refusedFd, noBackend, fails = stats()
		t.Fatalf("once fds are free: %v (active %d, refused for lack of fds %d, no backend %d, connect failures %d)",
			err, active, refusedFd, noBackend, fails)
	}
	c.send("exit")
	c.finish()
}

// dialAddr dials addr, closing the connection on cleanup.
func dialAddr(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// acceptChildBackendEnv passes the backend's address to
// TestAcceptAtFdLimitChild.
const acceptChildBackendEnv = "RMQLB_BALANCER_CHILD_BACKEND"

func TestAcceptAtFdLimitChild(t *testing.T) {
	if !isChild(t.Name()) {
		t.Skip("runs in a child process started by TestAcceptAtFdLimit")
	}
	backend, err := netip.ParseAddrPort(os.Getenv(acceptChildBackendEnv))
	if err != nil {
		t.Fatalf("backend address: %v", err)
	}
	r := startListener(t, baseConfig([]BackendConfig{{Name: "a", Address: backend, Weight: 1}}), 2)
	fds := exhaustFds(t)
	defer fds.restore()
	childSay("listening %s", r.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch cmd := in.Text(); cmd {
		case "stats":
			s := r.Snapshot()
			childSay("stats %d %d %d %d", s.Active, s.RefusedFdLimit, s.NoBackend, backendSnap(s, "a").ConnectFailures)
		case "free1":
			// Exactly one fd must be free: wait until every loop holds
			// its reserve fd again (a loop takes it back when it
			// resumes accepting).
			deadline := time.Now().Add(5 * time.Second)
			for !loopsHoldReserves(r) {
				if time.Now().After(deadline) {
					t.Fatal("the loops do not hold their reserve fds")
				}
				time.Sleep(10 * time.Millisecond)
			}
			fds.freeOne()
			childSay("freed1")
		case "free":
			fds.restore()
			childSay("freed")
		case "exit":
			return
		default:
			t.Fatalf("unknown command %q", cmd)
		}
	}
	t.Fatal("stdin closed before exit")
}

// loopsHoldReserves reports whether every loop of r holds its reserve fd.
func loopsHoldReserves(r *runningListener) bool {
	r.mu.Lock()
	loops := r.loops
	r.mu.Unlock()
	var mu sync.Mutex
	all := true
	r.broadcast(loops, func(lp *loop) {
		mu.Lock()
		all = all && lp.reserve >= 0
		mu.Unlock()
	})
	return all
}
