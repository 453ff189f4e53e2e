package daemon

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
)

// backendCmd runs a "backend" command through Handle.
func (h *harness) backendCmd(args ...string) (any, error) {
	return h.d.Handle(context.Background(), control.Request{Command: "backend", Args: args})
}

// snapBackend returns the listener snapshot of backend id.
func (h *harness) snapBackend(id backend.ID) (weight, configured int, override bool) {
	h.t.Helper()
	for _, l := range h.d.Status().Listeners {
		for _, b := range l.Backends {
			if l.Name == id.Listener && b.Name == id.Name {
				return b.Weight, b.ConfiguredWeight, b.WeightOverride
			}
		}
	}
	h.t.Fatalf("no backend %s in status", id)
	return
}

// TestWeightCommand: `backend L/B weight N` overrides the configured
// weight; a reload that leaves the backend as it was keeps the override, a
// reload that changes it drops it; `weight reset` drops it too.
func TestWeightCommand(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	want := func(step string, weight, configured int, override bool) {
		t.Helper()
		if w, c, o := h.snapBackend(idA); w != weight || c != configured || o != override {
			t.Fatalf("%s: weight %d configured %d override %v; want %d %d %v", step, w, c, o, weight, configured, override)
		}
	}
	res, err := h.backendCmd("amqp/a", "weight", "30")
	if err != nil || res != (control.BackendWeight{Backend: idA, Weight: 30, Configured: 10, Override: true}) {
		t.Fatalf("weight 30: %+v %v", res, err)
	}
	want("override", 30, 10, true)

	// A reload that changes b only: a keeps its operator's weight.
	h.write(l.file("{name: b, address: "+l.b.addr()+", weight: 10}", "{name: b, address: "+l.b.addr()+", weight: 4}"))
	if r := h.d.Reload(); !r.OK() || len(r.Applied) != 1 {
		t.Fatalf("reload of b's weight: %+v", r)
	}
	want("reload that leaves a alone", 30, 10, true)
	if w, _, o := h.snapBackend(idB); w != 4 || o {
		t.Fatalf("b after reload: weight %d override %v", w, o)
	}

	// A reload that changes a: the file wins.
	h.write(l.file("weight: 10}", "weight: 12}"))
	if r := h.d.Reload(); !r.OK() {
		t.Fatalf("reload of a's weight: %+v", r)
	}
	want("reload that changes a", 12, 12, false)

	if _, err := h.backendCmd("amqp/a", "weight", "0"); err != nil {
		t.Fatal(err)
	}
	want("override 0", 0, 12, true)
	res, err = h.backendCmd("amqp/a", "weight", "reset")
	if err != nil || res != (control.BackendWeight{Backend: idA, Weight: 12, Configured: 12}) {
		t.Fatalf("weight reset: %+v %v", res, err)
	}
	want("reset", 12, 12, false)

	for _, bad := range [][]string{{"amqp/a", "weight", "-1"}, {"amqp/a", "weight", "65536"}, {"amqp/a", "weight", "x"},
		{"amqp/a", "weight"}, {"amqp/a", "weight", "1", "2"}, {"amqp/x", "weight", "1"}, {"amqp/a", "reset"},
		{"amqp/a", "shutdown-sessions", "now"}, {"amqp/x", "shutdown-sessions"}, {"amqp/a", "frobnicate"}} {
		if res, err := h.backendCmd(bad...); err == nil {
			t.Errorf("backend %q accepted: %+v", bad, res)
		}
	}
	want("after refused commands", 12, 12, false)
}

// TestShutdownSessionsCommand: `backend L/B shutdown-sessions` closes the
// sessions of that backend now and no other's; the backend stays UP.
func TestShutdownSessionsCommand(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	conns := fourSessions(t, l, h)
	res, err := h.backendCmd("amqp/a", "shutdown-sessions")
	if err != nil || res != (control.SessionsClosed{Backend: idA, Sessions: 2}) {
		t.Fatalf("shutdown-sessions: %+v %v", res, err)
	}
	onlyClosed(t, conns, "a")
	if st := h.backendState(idA); st != backend.Up {
		t.Errorf("a after shutdown-sessions: %v", st)
	}
}

// TestShutdownSessionsOfRemovedBackend: a backend a reload removed while
// keeping its sessions (keep-sessions) is listed by status with them, and
// `backend L/B shutdown-sessions` under its old key closes them and no
// other; a name that never was, or once its sessions are gone, is "no
// backend".
func TestShutdownSessionsOfRemovedBackend(t *testing.T) {
	l := newLab(t)
	keep := []string{"policy: roundrobin", "policy: roundrobin\n    on_marked_down: keep-sessions"}
	h := newHarness(t, l.file(keep...))
	conns := fourSessions(t, l, h)
	withoutB := append(keep, "      - {name: b, address: "+l.b.addr()+", weight: 10}\n", "")
	if res := h.reload(l.file(withoutB...)); res.Error != "" || len(res.Refused) > 0 {
		t.Fatalf("reload removing b: %+v", res)
	}
	s := h.d.Status()
	if len(s.Listeners) != 1 || len(s.Listeners[0].Removed) != 1 || s.Listeners[0].Removed[0].Name != "b" ||
		s.Listeners[0].Removed[0].Active != 2 {
		t.Fatalf("status after removing b: %+v", s.Listeners)
	}
	for i, c := range conns {
		if err := roundTrip(c, []byte("kept")); err != nil {
			t.Fatalf("session %d after the reload: %v", i, err)
		}
	}
	if res, err := h.backendCmd("amqp/nobody", "shutdown-sessions"); err == nil {
		t.Errorf("shutdown-sessions of a backend that never was: %+v", res)
	}
	res, err := h.backendCmd("amqp/b", "shutdown-sessions")
	if err != nil || res != (control.SessionsClosed{Backend: idB, Sessions: 2}) {
		t.Fatalf("shutdown-sessions of removed b: %+v %v", res, err)
	}
	onlyClosed(t, conns, "b")
	h.eventually("b gone from status", func() bool { return len(h.d.Status().Listeners[0].Removed) == 0 })
	if res, err := h.backendCmd("amqp/b", "shutdown-sessions"); err == nil || !strings.Contains(err.Error(), "no backend amqp/b") {
		t.Errorf("shutdown-sessions of b with no session left: %+v %v", res, err)
	}
}

// onlyClosed checks the sessions of fourSessions after those of backend
// closed ("a" or "b") were shut down: those were closed by the proxy, and
// the other backend's still answer.
func onlyClosed(t *testing.T, conns []net.Conn, closed string) {
	t.Helper()
	for i, c := range conns {
		on := "a"
		if i%2 == 1 {
			on = "b"
		}
		if on == closed {
			if !closedByPeer(c) {
				t.Errorf("session %d on %s still open", i, on)
			}
		} else if err := roundTrip(c, []byte("still")); err != nil {
			t.Errorf("session %d on %s: %v", i, on, err)
		}
	}
}

// fourSessions starts the daemon of h, waits until the listener has a and
// b UP and opens four sessions through it, which round robin gives to a,
// b, a and b.
func fourSessions(t *testing.T, l *lab, h *harness) []net.Conn {
	t.Helper()
	startChecked(t, h)
	// The checks' results reach the listener on their own goroutine: a
	// connection made before a is UP there would go to b and shift the
	// round robin.
	h.eventually("a and b UP in the listener", func() bool {
		return h.backendState(idA) == backend.Up && h.backendState(idB) == backend.Up
	})
	var conns []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", l.bind)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := roundTrip(c, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}
