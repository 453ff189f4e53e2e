package balancer

import (
	"errors"
	"net"
	"testing"
	"time"
)

// removedKeptListener runs a round-robin listener with keep-sessions over
// backends a and b, opens one session to each and removes a by a reload:
// a's session stays. It returns the listener, its configuration after the
// reload, and the sessions to a and to b.
func removedKeptListener(t *testing.T) (r *runningListener, cfg Config, ca, cb net.Conn) {
	t.Helper()
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	cfg = baseConfig([]BackendConfig{{Name: "a", Address: a.addr, Weight: 1}, {Name: "b", Address: b.addr, Weight: 1}})
	cfg.Policy = PolicyRoundRobin
	cfg.ShutdownSessionsOnDown = false
	r = startListener(t, cfg, 1)
	ca, cb = r.dial(t), r.dial(t)
	for _, c := range []net.Conn{ca, cb} {
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if a.accepts.Load() != 1 || b.accepts.Load() != 1 {
		t.Fatalf("accepts a=%d b=%d, want one each", a.accepts.Load(), b.accepts.Load())
	}
	cfg.Backends = cfg.Backends[1:] // remove a, keeping its session
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(ca, []byte("kept")); err != nil {
		t.Fatalf("kept session of the removed backend: %v", err)
	}
	return r, cfg, ca, cb
}

// TestRemovedBackendKeptListed: a backend a reload removed while keeping
// its sessions is listed in the snapshot with its sessions (which the
// listener's Active counts) until the last one ends.
func TestRemovedBackendKeptListed(t *testing.T) {
	start := time.Now()
	r, _, ca, _ := removedKeptListener(t)
	s := r.Snapshot()
	if len(s.Backends) != 1 || s.Backends[0].Name != "b" {
		t.Fatalf("backends %+v, want b alone", s.Backends)
	}
	if len(s.Removed) != 1 {
		t.Fatalf("removed %+v, want a with its session", s.Removed)
	}
	got := s.Removed[0]
	if got.Name != "a" || got.Address.Addr().String() != "127.0.0.2" || got.Active != 1 ||
		got.BytesIn == 0 || got.BytesOut == 0 || got.RemovedAt.Before(start) || got.RemovedAt.After(time.Now()) {
		t.Errorf("removed backend %+v", got)
	}
	if s.Active != 2 {
		t.Errorf("listener active %d, want 2", s.Active)
	}
	ca.Close()
	eventually(t, 5*time.Second, "the removed backend to leave the snapshot with its last session", func() bool {
		return len(r.Snapshot().Removed) == 0
	})
}

// TestRemovedBackendKeptShutdownSessions: the operator's shutdown of a
// backend's sessions reaches the sessions a reload kept of a backend it
// removed, by the backend's name, and no other session.
func TestRemovedBackendKeptShutdownSessions(t *testing.T) {
	r, _, ca, cb := removedKeptListener(t)
	n, err := r.ShutdownSessions("a")
	if err != nil || n != 1 {
		t.Fatalf("ShutdownSessions(a) = %d, %v; want 1 closed", n, err)
	}
	if err := waitClosed(ca, 5*time.Second); err != nil {
		t.Fatalf("kept session of the removed backend: %v", err)
	}
	if _, err := roundTrip(cb, []byte("still")); err != nil {
		t.Fatalf("session of the backend that stays: %v", err)
	}
	eventually(t, 5*time.Second, "the removed backend to leave the snapshot", func() bool { return len(r.Snapshot().Removed) == 0 })
	if _, err := r.ShutdownSessions("a"); !errors.Is(err, ErrUnknownBackend) {
		t.Errorf("ShutdownSessions(a) with no session left: %v, want ErrUnknownBackend", err)
	}
}

// TestRemovedBackendKeptThenShutdownOnReload: a later reload that turns
// shutdown-sessions on closes the sessions an earlier one kept of a
// backend it removed, as it would close them had it removed the backend
// itself; the sessions of the backends that stay are left alone.
func TestRemovedBackendKeptThenShutdownOnReload(t *testing.T) {
	r, cfg, ca, cb := removedKeptListener(t)
	cfg.ShutdownSessionsOnDown = true
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if err := waitClosed(ca, 5*time.Second); err != nil {
		t.Fatalf("kept session of the removed backend: %v", err)
	}
	if _, err := roundTrip(cb, []byte("still")); err != nil {
		t.Fatalf("session of the backend that stays: %v", err)
	}
	eventually(t, 5*time.Second, "the removed backend's session to end", func() bool {
		s := r.Snapshot()
		return s.Active == 1 && len(s.Removed) == 0
	})
}

// TestRemovedBackendKeptShutdownSessionsSameName: when a reload has
// configured a new backend under the name of one removed with its
// sessions kept (status lists both by that name), shutting down the
// sessions of that name closes the removed one's too, not only the new
// one's.
func TestRemovedBackendKeptShutdownSessionsSameName(t *testing.T) {
	r, cfg, ca, cb := removedKeptListener(t)
	c := newServer(t, "127.0.0.4", echo)
	cfg.Backends = append(cfg.Backends, BackendConfig{Name: "a", Address: c.addr, Weight: 1})
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	s := r.Snapshot()
	if len(s.Removed) != 1 || s.Removed[0].Name != "a" || s.Removed[0].Address.Addr().String() != "127.0.0.2" {
		t.Fatalf("removed %+v, want the old a", s.Removed)
	}
	var toNew net.Conn
	for range 2 { // round robin over b and the new a
		conn := r.dial(t)
		if _, err := roundTrip(conn, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if c.accepts.Load() == 1 && toNew == nil {
			toNew = conn
		}
	}
	if toNew == nil {
		t.Fatal("no session to the new a")
	}
	n, err := r.ShutdownSessions("a")
	if err != nil || n != 2 {
		t.Fatalf("ShutdownSessions(a) = %d, %v; want the new a's session and the old a's kept one", n, err)
	}
	for what, conn := range map[string]net.Conn{"old a's kept session": ca, "new a's session": toNew} {
		if err := waitClosed(conn, 5*time.Second); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	if _, err := roundTrip(cb, []byte("still")); err != nil {
		t.Fatalf("session of b: %v", err)
	}
}
