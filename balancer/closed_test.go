package balancer

import (
	"net"
	"testing"
	"time"
)

// Closed is closed once a stopping listener has closed its listening
// socket, while a session still drains: the address can be bound again
// then, the snapshot says it no longer listens (with the session still
// counted), and the session carries on.
func TestListenerClosedBeforeDrained(t *testing.T) {
	srv := newServer(t, "127.0.0.1", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.GracefulTimeout = 10 * time.Second
	r := startListener(t, cfg, 1)
	select {
	case <-r.Closed():
		t.Fatal("Closed before Run stopped")
	default:
	}
	c := r.dial(t)
	defer c.Close()
	if _, err := roundTrip(c, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if s := r.Snapshot(); !s.Listening || s.Active != 1 {
		t.Fatalf("running with a session: listening %v, active %d", s.Listening, s.Active)
	}
	addr := r.Addr().String()
	r.cancel()
	select {
	case <-r.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("Closed not closed 5 s after the stop, with a session draining")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("binding the address again while the session drains: %v", err)
	}
	ln.Close()
	if s := r.Snapshot(); s.Listening || s.Active != 1 {
		t.Errorf("stopped accepting, with a session draining: listening %v, active %d; want not listening, 1 active", s.Listening, s.Active)
	}
	if _, err := roundTrip(c, []byte("b")); err != nil {
		t.Fatalf("the draining session: %v", err)
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned (%v) with a session left and 10 s of graceful timeout", err)
	default:
	}
	c.Close()
	r.stop(t)
}
