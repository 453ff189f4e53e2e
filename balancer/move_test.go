package balancer

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// TestMoveSessions: a move step closes at most n sessions of the drained
// backend across the event loops, each logged as moved, and its clients
// reconnect to the other backend; while no other backend serves it
// closes none and says so, counting what is left; an unknown backend is
// refused.
func TestMoveSessions(t *testing.T) {
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	cfg := baseConfig(backendsOf(a, b))
	cfg.LogSessions = true
	core, logs := observer.New(zapcore.InfoLevel)
	r := startListener(t, cfg, 2, func(l *Listener) { l.log = zap.New(core) })
	var conns []net.Conn
	for range 6 {
		c := dialFrom(t, r, "127.0.0.1")
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if a.accepts.Load() != 3 || b.accepts.Load() != 3 {
		t.Fatalf("accepts a=%d b=%d, want 3 each", a.accepts.Load(), b.accepts.Load())
	}
	if err := r.SetBackendState("a", rbackend.Drain, "test"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	moved, left, err := r.MoveSessions(ctx, "a", 2)
	if err != nil || moved != 2 || left != 1 {
		t.Fatalf("MoveSessions(a, 2) = %d, %d, %v; want 2 moved, 1 left", moved, left, err)
	}
	closed := 0
	for _, c := range conns {
		if _, err := roundTrip(c, []byte("y")); err != nil {
			closed++
		}
	}
	if closed != 2 {
		t.Fatalf("%d clients lost their session, want the 2 moved", closed)
	}
	ends := logs.FilterMessage("session ended").All()
	if len(ends) != 2 || ends[0].ContextMap()["reason"] != "moved" || ends[0].ContextMap()["backend"] != "a" {
		t.Fatalf("session log: %v; want two lines of backend a with reason moved", ends)
	}
	for range 2 { // the clients reconnect
		c := dialFrom(t, r, "127.0.0.1")
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if a.accepts.Load() != 3 || b.accepts.Load() != 5 {
		t.Fatalf("after reconnecting: accepts a=%d b=%d, want 3 and 5", a.accepts.Load(), b.accepts.Load())
	}

	// Nowhere to go: nothing closed, what is left counted.
	if err := r.SetBackendState("b", rbackend.Down, "test"); err != nil {
		t.Fatal(err)
	}
	moved, left, err = r.MoveSessions(ctx, "a", 5)
	if !errors.Is(err, ErrNowhereToMove) || moved != 0 || left != 1 {
		t.Fatalf("MoveSessions(a, 5) with b DOWN = %d, %d, %v; want 0, 1, ErrNowhereToMove", moved, left, err)
	}
	if s, ok := r.Snapshot().Backend("a"); !ok || s.Active != 1 {
		t.Fatalf("backend a: %+v; want its one session kept", s)
	}
	if err := r.SetBackendState("b", rbackend.Up, "test"); err != nil {
		t.Fatal(err)
	}
	moved, left, err = r.MoveSessions(ctx, "a", 5)
	if err != nil || moved != 1 || left != 0 {
		t.Fatalf("MoveSessions(a, 5) = %d, %d, %v; want the last one moved", moved, left, err)
	}
	if _, _, err := r.MoveSessions(ctx, "c", 1); !errors.Is(err, ErrUnknownBackend) {
		t.Errorf("MoveSessions of an unknown backend: %v, want ErrUnknownBackend", err)
	}
	eventually(t, 5*time.Second, "backend a without sessions", func() bool {
		s, _ := r.Snapshot().Backend("a")
		return s.Active == 0
	})
}

// TestSteer: while steered, a round robin listener sends each new client
// to the backend with the fewest sessions; once it is not, in turn again.
func TestSteer(t *testing.T) {
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	r := startListener(t, baseConfig(backendsOf(a, b)), 1)
	dialed := func() {
		c := dialFrom(t, r, "127.0.0.1")
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetBackendState("b", rbackend.Drain, "test"); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		dialed()
	}
	if err := r.SetBackendState("b", rbackend.Up, "test"); err != nil {
		t.Fatal(err)
	}
	r.Steer(true)
	for range 4 {
		dialed()
	}
	if a.accepts.Load() != 4 || b.accepts.Load() != 4 {
		t.Fatalf("steered: accepts a=%d b=%d, want b to get the 4 new clients", a.accepts.Load(), b.accepts.Load())
	}
	r.Steer(false)
	for range 4 {
		dialed()
	}
	if a.accepts.Load() != 6 || b.accepts.Load() != 6 {
		t.Fatalf("not steered: accepts a=%d b=%d, want them in turn", a.accepts.Load(), b.accepts.Load())
	}
}
