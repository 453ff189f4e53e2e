package daemon

import (
	"net"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// inertFile is a configuration that runs nothing (the package's conffile).
const inertFile = "control_socket: SOCKET\ninert: true\n"

// TestInertThenReload: a daemon started on an inert file is ready at once
// with no VRRP instance and no listener, answers on its control socket, and
// a reload to a real file starts the file's VRRP instance and listener
// (the way from an installed package to a running balancer); a reload back
// to the inert file stops them.
func TestInertThenReload(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, inertFile)
	h.start()
	h.ready()
	var s control.Status
	if err := control.Call(h.socket(), control.Request{Command: "status"}, &s, 5*time.Second); err != nil {
		t.Fatalf("status over the control socket: %v", err)
	}
	if len(s.VRRP) != 0 || len(s.Listeners) != 0 {
		t.Fatalf("inert daemon runs %d VRRP instances and %d listeners", len(s.VRRP), len(s.Listeners))
	}
	h.vrrp.mu.Lock()
	made := len(h.vrrp.byName)
	h.vrrp.mu.Unlock()
	if made != 0 {
		t.Fatalf("inert daemon made %d VRRP transports", made)
	}
	reload := h.reload
	if r := reload(l.file()); !r.OK() {
		t.Fatalf("reload to a real file: %+v", r)
	}
	h.checks.get(idA).answer(t, healthcheck.Result{})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.eventually("a VRRP instance and a listening listener", func() bool {
		s := h.d.Status()
		return len(s.VRRP) == 1 && len(s.Listeners) == 1 && s.Listeners[0].Listening && h.vrrp.get("v") != nil &&
			h.backendState(idA) == backend.Up && h.backendState(idB) == backend.Up
	})
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	err = roundTrip(c, []byte("x"))
	c.Close()
	if err != nil {
		t.Fatalf("a session through the listener: %v", err)
	}
	if r := reload(inertFile); !r.OK() {
		t.Fatalf("reload back to the inert file: %+v", r)
	}
	if s := h.d.Status(); len(s.VRRP) != 0 || len(s.Listeners) != 0 {
		t.Fatalf("after the reload to the inert file: %d VRRP instances, %d listeners", len(s.VRRP), len(s.Listeners))
	}
	if _, err := net.Dial("tcp", l.bind); err == nil {
		t.Error("the listener still accepts after the reload to the inert file")
	}
}
