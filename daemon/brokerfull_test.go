package daemon

import (
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
)

// TestBrokerFullKeepsSessions: a check that finds a's broker at its
// connection limit makes a DEGRADED and full in the listener: its session
// stays, the track rule on its check does not lower the priority, new
// clients go to b, and the status says so; a listener that a reload makes
// anew learns it too; once a's broker takes clients again, a gets its
// turn again.
func TestBrokerFullKeepsSessions(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	c := openSession(t, l) // round robin: a first
	if n := l.a.accepted(); n != 1 {
		t.Fatalf("a accepted %d, want the first session", n)
	}
	full := healthcheck.Result{Full: true, Warning: healthcheck.FullWarning("530 NOT_ALLOWED - connection refused: node connection limit (100) is reached")}
	h.nextChecks()
	h.checks.get(idA).answer(t, full)
	h.checks.get(idB).answer(t, healthcheck.Result{})
	brokerFull := func() bool {
		b, _ := h.d.Status().Listeners[0].Backend("a")
		return b.BrokerFull && b.State == backend.Degraded
	}
	h.eventually("a full in the listener", brokerFull)
	if err := roundTrip(c, []byte("still here")); err != nil {
		t.Fatalf("a's session after its broker filled up: %v", err)
	}
	if adj := h.vrrpSnapshot().PriorityAdjust; adj != 0 {
		t.Errorf("priority adjust with a full: %d, want 0 (its check passes)", adj)
	}
	for range 4 {
		openSession(t, l)
	}
	if a, b := l.a.accepted(), l.b.accepted(); a != 1 || b != 4 {
		t.Errorf("new sessions with a full: a accepted %d, b %d; want 1 and 4", a, b)
	}
	v := control.Assess(h.d.Status())
	if !strings.Contains(v.Summary, "(1 broker at its connection limit)") || !strings.Contains(strings.Join(v.Reasons, "\n"), "backend amqp/a DEGRADED (node connection limit reached") {
		t.Errorf("verdict with a full: %+v", v)
	}

	// A listener the reload makes anew (another address) learns it.
	l.bind = freeport.Addr(t, "127.0.0.1")
	h.reload(l.file())
	h.eventually("the new listener has a full", brokerFull)

	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	h.nextChecks()
	h.eventually("a takes clients again", func() bool {
		b, _ := h.d.Status().Listeners[0].Backend("a")
		return !b.BrokerFull && b.State == backend.Up
	})
	before := l.a.accepted()
	for range 2 {
		openSession(t, l)
	}
	if got := l.a.accepted(); got != before+1 {
		t.Errorf("two new sessions once a takes clients again: a accepted %d more, want 1 (round robin)", got-before)
	}
}

// TestUpgradeKeepsBrokerFull: the new process of an upgrade in place
// gives no new client to a backend whose broker its predecessor's checks
// found at its connection limit, before its own checks have run.
func TestUpgradeKeepsBrokerFull(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	full := healthcheck.Result{Full: true, Warning: healthcheck.FullWarning("")}
	h.nextChecks()
	h.checks.get(idA).answer(t, full)
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.eventually("a full in the listener", func() bool {
		b, _ := h.d.Status().Listeners[0].Backend("a")
		return b.BrokerFull
	})
	h.checks.get(idA).always(full)
	h.checks.get(idB).always(healthcheck.Result{})
	s := upgradedInProc(t, h).daemon().Status()
	if b, _ := s.Listeners[0].Backend("a"); !b.BrokerFull || b.State != backend.Degraded {
		t.Errorf("the new daemon's listener has a %v, full %v; want DEGRADED and full", b.State, b.BrokerFull)
	}
	for _, c := range s.Checks {
		if c.Backend == idA && (!c.Full || c.State != backend.Degraded) {
			t.Errorf("the new daemon's check of a: %+v, want full", c)
		}
	}
	a, b := l.a.accepted(), l.b.accepted()
	for range 2 {
		openSession(t, l)
	}
	if da, db := l.a.accepted()-a, l.b.accepted()-b; da != 0 || db != 2 {
		t.Errorf("two new sessions through the new daemon: a accepted %d, b %d; want 0 and 2", da, db)
	}
}
