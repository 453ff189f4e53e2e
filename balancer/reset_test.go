package balancer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pattern returns n bytes that tell their own offsets apart (and seed).
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i/251) ^ byte(i%251) ^ seed
	}
	return b
}

// resetAfterSent waits until the peer has acknowledged every byte written
// on c (its kernel holds them) and closes c with a reset (SO_LINGER 0), as
// a broker does that closes a connection whose client data it left unread.
func resetAfterSent(c *net.TCPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var queued int
		var qerr error
		raw.Control(func(fd uintptr) { queued, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
		if qerr != nil {
			return qerr
		}
		if queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d bytes still unacknowledged after 10 s", queued)
		}
		time.Sleep(time.Millisecond) // no event tells when the peer acks
	}
	c.SetLinger(0)
	return c.Close()
}

// readToFailure reads c until an error, checking the bytes against want as
// they come (slowly, chunk bytes per pause, if pause > 0), and returns how
// many matched and the error that ended the reading.
func readToFailure(c net.Conn, want []byte, chunk int, pause time.Duration) (int, error) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, chunk)
	got := 0
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if got+n > len(want) || !bytes.Equal(buf[:n], want[got:got+n]) {
				return got, fmt.Errorf("bytes %d..%d differ from what was sent", got, got+n)
			}
			got += n
		}
		if err != nil {
			return got, err
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

// serverResetCase runs clients through a listener to a backend that writes
// size bytes at once and then resets the connection; each client reads
// (chunk bytes per pause) until the connection fails and must have
// received every byte and then the reset.
func serverResetCase(t *testing.T, clients, size, chunk int, pause time.Duration) {
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		// The client speaks first, as AMQP clients do; only then does
		// the backend write and reset (a reset that came before the
		// client's connect completed would fail the connect).
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Errorf("backend reading the client's header: %v", err)
			return
		}
		if _, err := c.Write(pattern(size, 7)); err != nil {
			t.Errorf("backend writing: %v", err)
			return
		}
		if err := resetAfterSent(c.(*net.TCPConn)); err != nil {
			t.Errorf("backend resetting: %v", err)
		}
	})
	r := startListener(t, baseConfig(backendsOf(srv)), 2)
	want := pattern(size, 7)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		c := r.dial(t)
		if _, err := c.Write([]byte("AMQP")); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			got, err := readToFailure(c, want, chunk, pause)
			switch {
			case got != size:
				errs <- fmt.Errorf("client %d received %d of %d bytes (then %v)", i, got, size, err)
			case !errors.Is(err, syscall.ECONNRESET):
				errs <- fmt.Errorf("client %d received every byte, then %v; want the backend's reset passed on", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		t.Error(err)
		failed++
	}
	t.Logf("%d of %d clients received all %d bytes and then the reset, in %v", clients-failed, clients, size, time.Since(start))
	eventually(t, 5*time.Second, "sessions to end", func() bool { return r.Snapshot().Active == 0 })
}

// TestServerResetAfterData: a backend that writes and then resets (as
// RabbitMQ does after Connection.Close when the client's data was left
// unread): every byte reaches the client before the reset.
func TestServerResetAfterData(t *testing.T) {
	serverResetCase(t, 50, 20000, 32<<10, 0)
}

// TestServerResetAfterBulkToSlowClient: the same with 4 MiB to clients that
// read slowly, so that when the reset comes bytes still wait in the proxy's
// pipe and in its kernel's send queue to the client.
func TestServerResetAfterBulkToSlowClient(t *testing.T) {
	serverResetCase(t, 4, 4<<20, 64<<10, 2*time.Millisecond)
}

// TestClientResetAfterData: a client that writes and then resets: every
// byte reaches the backend, which then sees the reset.
func TestClientResetAfterData(t *testing.T) {
	const clients, size = 50, 20000
	type result struct {
		got int
		err error
	}
	results := make(chan result, clients)
	want := pattern(size, 3)
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		got, err := readToFailure(c, want, 32<<10, 0)
		results <- result{got, err}
	})
	r := startListener(t, baseConfig(backendsOf(srv)), 2)
	for i := range clients {
		c := r.dial(t)
		if _, err := c.Write(want); err != nil {
			t.Fatal(err)
		}
		if err := resetAfterSent(c); err != nil {
			t.Fatalf("client %d resetting: %v", i, err)
		}
	}
	complete := 0
	for range clients {
		select {
		case res := <-results:
			switch {
			case res.got != size:
				t.Errorf("backend received %d of %d bytes (then %v)", res.got, size, res.err)
			case !errors.Is(res.err, syscall.ECONNRESET):
				t.Errorf("backend received every byte, then %v; want the client's reset passed on", res.err)
			default:
				complete++
			}
		case <-time.After(30 * time.Second):
			t.Fatal("backend connections still open 30 s after the clients reset")
		}
	}
	t.Logf("%d of %d backend connections received all %d bytes and then the reset", complete, clients, size)
	eventually(t, 5*time.Second, "sessions to end", func() bool { return r.Snapshot().Active == 0 })
}

// TestResetFlushBoundedByFinTimeout: bytes of a reset backend wait for a
// client that never reads them only for the FIN timeout.
func TestResetFlushBoundedByFinTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		// Write until the path is full (the client does not read), then
		// reset.
		data := pattern(16<<20, 1)
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _ := c.Write(data); n == 0 {
			t.Errorf("backend wrote nothing")
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	cfg := baseConfig(backendsOf(srv))
	cfg.FinTimeout = timeout
	r := startListener(t, cfg, 1)
	c := r.dial(t)
	eventually(t, 5*time.Second, "the backend to have connected", func() bool { return srv.accepts.Load() == 1 })
	start := time.Now()
	eventually(t, 5*time.Second, "the session to end", func() bool { return r.Snapshot().Active == 0 })
	t.Logf("session of a client not reading ended %v after the backend connected (FIN timeout %v)", time.Since(start), timeout)
	if n := r.Snapshot().FinTimeouts; n != 1 {
		t.Errorf("FinTimeouts = %d, want 1", n)
	}
	if _, err := io.Copy(io.Discard, c); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read %v at the end, want the reset", err)
	}
}

// anySession reports whether a live session of r satisfies cond, asked on
// the sessions' loops.
func anySession(r *runningListener, cond func(*session) bool) bool {
	r.mu.Lock()
	loops := r.loops
	r.mu.Unlock()
	var mu sync.Mutex
	found := false
	r.broadcast(loops, func(lp *loop) {
		for s := lp.head; s != nil; s = s.next {
			if cond(s) {
				mu.Lock()
				found = true
				mu.Unlock()
			}
		}
	})
	return found
}

// finThenResetServer starts a backend that reads the client's 4-byte
// header, writes size bytes of pattern(size, seed), half-closes, and
// resets its socket once reset is closed (as a late client frame hitting
// a closed socket makes it).
func finThenResetServer(t testing.TB, size int, seed byte) (srv *testServer, reset chan struct{}) {
	reset = make(chan struct{})
	srv = newServer(t, "127.0.0.2", func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Errorf("backend reading the client's header: %v", err)
			return
		}
		if _, err := c.Write(pattern(size, seed)); err != nil {
			t.Errorf("backend writing: %v", err)
			return
		}
		c.(*net.TCPConn).CloseWrite()
		<-reset
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	return srv, reset
}

// TestServerResetAfterFinKeepsData: a backend that writes, half-closes and
// then resets (a late client frame hit its closed socket) while its client
// reads slowly: the proxy has already passed the FIN on to the client, so
// the client still receives every byte and then the FIN, not a reset that
// drops what the proxy's kernel had not sent yet.
func TestServerResetAfterFinKeepsData(t *testing.T) {
	const size = 512 << 10
	srv, reset := finThenResetServer(t, size, 3)
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	if _, err := c.Write([]byte("AMQP")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the proxy to pass the backend's FIN on", func() bool {
		return anySession(r, func(s *session) bool { return s.s2c.done })
	})
	close(reset)
	eventually(t, 5*time.Second, "the session to end after the backend's reset", func() bool { return r.Snapshot().Active == 0 })
	got, err := readToFailure(c, pattern(size, 3), 32<<10, 0)
	if got != size || err != io.EOF {
		t.Errorf("client received %d of %d bytes, then %v; want every byte, then EOF", got, size, err)
	}
}

// TestClientResetAfterFinKeepsData is the same the other way: a client
// that writes, half-closes and then resets while the backend reads slowly
// loses none of its last bytes (acks, Connection.Close) on the way to the
// backend, which receives them and then the FIN.
func TestClientResetAfterFinKeepsData(t *testing.T) {
	const size = 512 << 10
	type result struct {
		got int
		err error
	}
	start, results := make(chan struct{}), make(chan result, 1)
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		<-start
		got, err := readToFailure(c, pattern(size, 5), 32<<10, 0)
		results <- result{got, err}
	})
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	if _, err := c.Write(pattern(size, 5)); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	eventually(t, 10*time.Second, "the proxy to pass the client's FIN on", func() bool {
		return anySession(r, func(s *session) bool { return s.c2s.done })
	})
	c.SetLinger(0)
	c.Close()
	eventually(t, 5*time.Second, "the session to end after the client's reset", func() bool { return r.Snapshot().Active == 0 })
	close(start)
	select {
	case res := <-results:
		if res.got != size || res.err != io.EOF {
			t.Errorf("backend received %d of %d bytes, then %v; want every byte, then EOF", res.got, size, res.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("backend still reading 30 s after the client reset")
	}
}
