package daemon

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
)

// TestRebalancePlan: the shares by weight of the serving backends, and
// which backend to close sessions of: the furthest above its share by
// more than a tenth of it and one session.
func TestRebalancePlan(t *testing.T) {
	up := func(name string, weight, active int) balancer.BackendSnapshot {
		return balancer.BackendSnapshot{Name: name, State: backend.Up, Weight: weight, Active: active}
	}
	with := func(b balancer.BackendSnapshot, f func(*balancer.BackendSnapshot)) balancer.BackendSnapshot {
		f(&b)
		return b
	}
	for _, c := range []struct {
		name       string
		backends   []balancer.BackendSnapshot
		wantShares []control.BackendShare
		wantFrom   string
		wantExcess int
	}{
		{"a restarted broker holds none", []balancer.BackendSnapshot{up("a", 10, 100), up("b", 10, 100), up("c", 10, 0)},
			[]control.BackendShare{sh("a", 100, 66.7), sh("b", 100, 66.7), sh("c", 0, 66.7)}, "a", 33},
		{"within a tenth", []balancer.BackendSnapshot{up("a", 10, 105), up("b", 10, 95)},
			[]control.BackendShare{sh("a", 105, 100), sh("b", 95, 100)}, "", 0},
		{"one session above is balanced", []balancer.BackendSnapshot{up("a", 1, 2), up("b", 1, 1)},
			[]control.BackendShare{sh("a", 2, 1.5), sh("b", 1, 1.5)}, "", 0},
		{"by weight", []balancer.BackendSnapshot{up("a", 30, 50), up("b", 10, 50)},
			[]control.BackendShare{sh("a", 50, 75), sh("b", 50, 25)}, "b", 25},
		{"drained, down, backup, weight 0 and looping back are left out", []balancer.BackendSnapshot{
			up("a", 10, 40), up("b", 10, 0),
			with(up("d", 10, 90), func(b *balancer.BackendSnapshot) { b.State = backend.Drain }),
			with(up("e", 10, 90), func(b *balancer.BackendSnapshot) { b.State = backend.Down }),
			with(up("f", 10, 90), func(b *balancer.BackendSnapshot) { b.Backup = true }),
			up("g", 0, 90),
			with(up("h", 10, 90), func(b *balancer.BackendSnapshot) { b.LoopsBack = true })},
			[]control.BackendShare{sh("a", 40, 20), sh("b", 0, 20)}, "a", 20},
		{"a broker at its connection limit is left out", []balancer.BackendSnapshot{
			up("a", 10, 40), up("b", 10, 0),
			with(up("c", 10, 0), func(b *balancer.BackendSnapshot) { b.State, b.BrokerFull = backend.Degraded, true })},
			[]control.BackendShare{sh("a", 40, 20), sh("b", 0, 20)}, "a", 20},
		{"degraded serves", []balancer.BackendSnapshot{with(up("a", 10, 10), func(b *balancer.BackendSnapshot) { b.State = backend.Degraded }), up("b", 10, 0)},
			[]control.BackendShare{sh("a", 10, 5), sh("b", 0, 5)}, "a", 5},
		{"no session", []balancer.BackendSnapshot{up("a", 10, 0), up("b", 10, 0)},
			[]control.BackendShare{sh("a", 0, 0), sh("b", 0, 0)}, "", 0},
		{"none serves", []balancer.BackendSnapshot{up("a", 0, 3)}, nil, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := rebalancePlan(c.backends)
			if !slices.Equal(v.shares, c.wantShares) || v.from != c.wantFrom || v.excess != c.wantExcess {
				t.Fatalf("rebalancePlan = %v, %q, %d; want %v, %q, %d", v.shares, v.from, v.excess, c.wantShares, c.wantFrom, c.wantExcess)
			}
			total := 0
			for _, b := range c.wantShares {
				total += b.Sessions
			}
			if v.total != total {
				t.Errorf("total %d, want %d", v.total, total)
			}
		})
	}
}

// sh is a BackendShare.
func sh(name string, sessions int, share float64) control.BackendShare {
	return control.BackendShare{Backend: name, Sessions: sessions, Share: share}
}

// statusRebalance returns the status's rebalance of listener, through
// the control socket and valid against the schema.
func statusRebalance(t *testing.T, h *harness, listener string) control.Rebalance {
	t.Helper()
	for _, r := range schemaStatus(t, h).Rebalances {
		if r.Listener == listener {
			return r
		}
	}
	t.Fatalf("no rebalance of %s in the status", listener)
	return control.Rebalance{}
}

// TestRebalance: after b was drained, a holds every session; once b
// serves again a rebalance closes a's sessions above its share at the
// rate asked, the reconnecting client goes to b (steered there although
// the policy is round robin), and the rebalance ends once both are
// within their share; new clients then go in turn again. It is refused
// for an unknown listener, with one backend serving, and on a listener
// that pins its clients.
func TestRebalance(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	if _, err := h.backendCmd("amqp/b", "drain"); err != nil {
		t.Fatal(err)
	}
	h.eventually("a UP, b DRAIN", func() bool { return h.backendState(idA) == backend.Up && h.backendState(idB) == backend.Drain })
	if _, err := h.d.Handle(t.Context(), control.Request{Command: "rebalance", Args: []string{"amqp"}}); err == nil ||
		!strings.Contains(err.Error(), "1 of its backends serve, want two at least") {
		t.Errorf("rebalance with b drained: %v, want it refused", err)
	}
	dial := func() net.Conn { return echoSession(t, l.bind) }
	var conns []net.Conn
	for range 4 {
		conns = append(conns, dial())
	}
	if _, err := h.backendCmd("amqp/b", "ready"); err != nil {
		t.Fatal(err)
	}
	h.eventually("b UP", func() bool { return h.backendState(idB) == backend.Up })

	t0 := h.clk.Now()
	got, err := h.d.Handle(t.Context(), control.Request{Command: "rebalance", Args: []string{"amqp", "10"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []control.BackendShare{sh("a", 4, 2), sh("b", 0, 2)}
	if r := got.(control.Rebalance); r.Listener != "amqp" || r.Rate != 10 || !slices.Equal(r.Shares, want) || !r.Running() {
		t.Fatalf("answer %+v, want a rebalance of amqp at 10/s with shares %v", r, want)
	}
	h.moveTickAt(t0.Add(moveTick))
	h.eventually("one session moved", func() bool { return statusRebalance(t, h, "amqp").Moved == 1 })
	closed := 0
	for _, c := range conns {
		if roundTrip(c, []byte("still")) != nil {
			closed++
		}
	}
	if closed != 1 {
		t.Fatalf("%d sessions closed, want 1", closed)
	}
	beforeB := l.b.accepted()
	dial() // its client reconnects: to b, the least loaded
	if l.b.accepted() != beforeB+1 {
		t.Fatal("the reconnecting client did not go to b")
	}
	h.moveTickAt(t0.Add(2 * moveTick))
	h.eventually("the rebalance ended", func() bool { return !statusRebalance(t, h, "amqp").Running() })
	want = []control.BackendShare{sh("a", 3, 2), sh("b", 1, 2)}
	if r := statusRebalance(t, h, "amqp"); r.Outcome != control.OutcomeBalanced || r.Moved != 1 || !slices.Equal(r.Shares, want) {
		t.Fatalf("rebalance %+v, want balanced with 1 moved and shares %v", r, want)
	}
	beforeA, beforeB := l.a.accepted(), l.b.accepted()
	dial()
	dial()
	if l.a.accepted() != beforeA+1 || l.b.accepted() != beforeB+1 {
		t.Errorf("after the rebalance two new clients went to a %d and b %d times, want once each (round robin, not steered)",
			l.a.accepted()-beforeA, l.b.accepted()-beforeB)
	}

	if _, err := h.d.Handle(t.Context(), control.Request{Command: "rebalance", Args: []string{"nope"}}); err == nil {
		t.Error("rebalance of an unknown listener: no error")
	}
	h.reload(l.file("policy: roundrobin", "policy: leastconn\n    persistence_timeout: 1m"))
	if _, err := h.d.Handle(t.Context(), control.Request{Command: "rebalance", Args: []string{"amqp"}}); err == nil ||
		!strings.Contains(err.Error(), "pins each client to a backend") {
		t.Errorf("rebalance with persistence: %v, want it refused", err)
	}
}

// TestRebalanceWaitsForClients: the rebalance closes no more while the
// clients it closed are on their way back (its window, here one), goes
// on once they are back, and takes those still away after
// rebalanceSettle for gone rather than closing on and on.
func TestRebalanceWaitsForClients(t *testing.T) {
	l := newLab(t)
	// Checks every hour: the fake clock runs through minutes of ticks.
	h := newHarness(t, l.file("policy: roundrobin", "policy: leastconn", "interval: 1s", "interval: 1h"))
	startChecked(t, h)
	if _, err := h.backendCmd("amqp/b", "drain"); err != nil {
		t.Fatal(err)
	}
	h.eventually("b DRAIN", func() bool { return h.backendState(idB) == backend.Drain })
	dial := func() { echoSession(t, l.bind) }
	for range 6 {
		dial()
	}
	if _, err := h.backendCmd("amqp/b", "ready"); err != nil {
		t.Fatal(err)
	}
	h.eventually("b UP", func() bool { return h.backendState(idB) == backend.Up })
	if _, err := h.d.Handle(t.Context(), control.Request{Command: "rebalance", Args: []string{"amqp", "10"}}); err != nil {
		t.Fatal(err)
	}
	at := h.clk.Now()
	tick := func() control.Rebalance {
		t.Helper()
		at = at.Add(moveTick)
		h.moveTickAt(at)
		// The step is done once its timer is armed for the next tick (no
		// other timer of this daemon is on moveTick's grid), or it ended.
		var r control.Rebalance
		h.eventually("the step done", func() bool {
			done := slices.Contains(h.clk.Armed(), at.Add(moveTick))
			r = statusRebalance(t, h, "amqp")
			return done || !r.Running()
		})
		return r
	}
	if r := tick(); r.Moved != 1 {
		t.Fatalf("after the first tick: %+v, want one moved", r)
	}
	if r := tick(); r.Moved != 1 || r.Paused != "waiting for 1 closed client to reconnect" {
		t.Fatalf("second tick: %+v, want it waiting for the client", r)
	}
	dial() // back, to b
	if r := tick(); r.Moved != 2 || r.Paused != "" {
		t.Fatalf("after the client came back: %+v, want a second one moved", r)
	}
	// The next ones do not come back: each is given rebalanceSettle.
	var r control.Rebalance
	for i := 0; r.Running() || i == 0; i++ {
		if i > 3*int(rebalanceSettle/moveTick) {
			t.Fatalf("still running after %d ticks: %+v", i, r)
		}
		r = tick()
	}
	want := []control.BackendShare{sh("a", 3, 2), sh("b", 1, 2)}
	if r.Outcome != control.OutcomeBalanced || r.Moved != 3 || !slices.Equal(r.Shares, want) {
		t.Fatalf("rebalance %+v, want balanced after 3 moved, shares %v", r, want)
	}
	if took := r.Ended.Sub(r.Since); took < 2*rebalanceSettle {
		t.Errorf("ended after %v: did not wait for the clients that did not come back", took)
	}
}

// echoSession opens a session through the listener at bind, checks that
// the echo backend answers, and closes it when the test ends.
func echoSession(t *testing.T, bind string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", bind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := roundTrip(c, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	return c
}
