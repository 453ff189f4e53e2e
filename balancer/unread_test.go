package balancer

import (
	"io"
	"net"
	"testing"
	"time"
)

// The tests of this file close a side that is to end in order (it was
// given its peer's FIN before that peer failed, or an operator shut the
// session) while bytes its own peer sent wait unread in the proxy's
// receive queue: a heartbeat frame that came in the turn the session
// ended. The loop is held (holdLoop) so that the frame and the end arrive
// in one turn. The side's kernel still holds bytes for a peer that has not
// read yet; those bytes and the FIN must still reach it: close(2) with
// unread bytes would send a reset instead, dropping them.

// heartbeat is an AMQP heartbeat frame.
var heartbeat = []byte{8, 0, 0, 0, 0, 0, 0, 0xce}

// TestServerResetAfterFinWithClientFrameUnread: the backend writes,
// half-closes and then resets (a client frame hit its closed socket), and
// the client's next frame arrives in the turn the proxy learns of the
// reset, so the proxy never reads it. The client, which reads only after
// the session ended, still receives every byte and then EOF.
func TestServerResetAfterFinWithClientFrameUnread(t *testing.T) {
	const size = 256 << 10
	srv, reset := finThenResetServer(t, size, 11)
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	if _, err := c.Write([]byte("AMQP")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the proxy to pass the backend's FIN on", func() bool {
		return anySession(r, func(s *session) bool { return s.s2c.done })
	})
	h := holdLoop(t, r)
	s := h.lp.head
	if unsentOut(s.cli.fd) == 0 {
		t.Fatal("the proxy has sent the client every byte: nothing a reset could drop, the case is not tested")
	}
	close(reset)
	eventually(t, 5*time.Second, "the backend's reset to reach the proxy", func() bool { return wasReset(s.srv.fd) })
	if _, err := c.Write(heartbeat); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the client's frame to reach the proxy", func() bool { return queuedIn(s.cli.fd) == len(heartbeat) })
	h.let(nil)
	eventually(t, 5*time.Second, "the session to end", func() bool { return r.Snapshot().Active == 0 })
	if got, err := readToFailure(c, pattern(size, 11), 32<<10, 0); got != size || err != io.EOF {
		t.Errorf("client received %d of %d bytes, then %v; want every byte, then EOF", got, size, err)
	}
}

// TestClientResetAfterFinWithBackendFrameUnread is the same the other way:
// the client writes, half-closes and resets, the backend's heartbeat
// arrives in the turn the proxy learns of the reset, and the backend,
// which reads only after the session ended, receives every byte and then
// EOF.
func TestClientResetAfterFinWithBackendFrameUnread(t *testing.T) {
	const size = 256 << 10
	type result struct {
		got int
		err error
	}
	beat, read, results := make(chan struct{}), make(chan struct{}), make(chan result, 1)
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		<-beat
		if _, err := c.Write(heartbeat); err != nil {
			t.Errorf("backend writing its heartbeat: %v", err)
		}
		<-read
		got, err := readToFailure(c, pattern(size, 13), 32<<10, 0)
		results <- result{got, err}
	})
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	if _, err := c.Write(pattern(size, 13)); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	eventually(t, 10*time.Second, "the proxy to pass the client's FIN on", func() bool {
		return anySession(r, func(s *session) bool { return s.c2s.done })
	})
	h := holdLoop(t, r)
	s := h.lp.head
	if unsentOut(s.srv.fd) == 0 {
		t.Fatal("the proxy has sent the backend every byte: nothing a reset could drop, the case is not tested")
	}
	c.SetLinger(0)
	c.Close()
	eventually(t, 5*time.Second, "the client's reset to reach the proxy", func() bool { return wasReset(s.cli.fd) })
	close(beat)
	eventually(t, 5*time.Second, "the backend's frame to reach the proxy", func() bool { return queuedIn(s.srv.fd) == len(heartbeat) })
	h.let(nil)
	eventually(t, 5*time.Second, "the session to end", func() bool { return r.Snapshot().Active == 0 })
	close(read)
	select {
	case res := <-results:
		if res.got != size || res.err != io.EOF {
			t.Errorf("backend received %d of %d bytes, then %v; want every byte, then EOF", res.got, size, res.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("backend still reading 30 s after the session ended")
	}
}

// TestShutdownSessionsWithClientFrameUnread: an operator shuts the
// backend's sessions (ShutdownSessions) in the turn a client's frame
// arrives. The session ends in order, as a shutdown does: the client
// receives what the proxy had passed to its kernel for it, and then EOF.
func TestShutdownSessionsWithClientFrameUnread(t *testing.T) {
	const size = 256 << 10
	srv := newServer(t, "127.0.0.2", func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Errorf("backend reading the client's header: %v", err)
			return
		}
		if _, err := c.Write(pattern(size, 17)); err != nil {
			t.Errorf("backend writing: %v", err)
			return
		}
		io.Copy(io.Discard, c)
	})
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	if _, err := c.Write([]byte("AMQP")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the proxy to write the backend's bytes to the client", func() bool {
		return anySession(r, func(s *session) bool { return s.s2c.bytes == size })
	})
	h := holdLoop(t, r)
	s := h.lp.head
	if unsentOut(s.cli.fd) == 0 {
		t.Fatal("the proxy has sent the client every byte: nothing a reset could drop, the case is not tested")
	}
	if _, err := c.Write(heartbeat); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the client's frame to reach the proxy", func() bool { return queuedIn(s.cli.fd) == len(heartbeat) })
	h.let(func(lp *loop) {
		if n := lp.closeSessions(func(x *session) bool { return x.be == s.be }, EndShutdown); n != 1 {
			t.Errorf("shut %d sessions, want 1", n)
		}
	})
	eventually(t, 5*time.Second, "the session to end", func() bool { return r.Snapshot().Active == 0 })
	if got, err := readToFailure(c, pattern(size, 17), 32<<10, 0); got != size || err != io.EOF {
		t.Errorf("client received %d of %d bytes, then %v; want every byte, then EOF", got, size, err)
	}
}
