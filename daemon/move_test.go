package daemon

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/control/statusschema"
)

// TestMovePace: a move closes rate sessions a second, in whole sessions
// per tick with the fraction carried, and makes up for no more than one
// second it could not close.
func TestMovePace(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		rate  int
		ticks []time.Duration // since the start, in order
		want  []int
	}{
		{"10/s at 100ms", 10, []time.Duration{100, 200, 300}, []int{1, 1, 1}},
		{"3/s at 100ms carries the fraction", 3, []time.Duration{100, 200, 300, 400}, []int{0, 0, 0, 1}},
		{"25/s at 100ms", 25, []time.Duration{100, 200, 300, 400}, []int{2, 3, 2, 3}},
		{"a late tick makes up one second at most", 10, []time.Duration{5000, 5100}, []int{10, 1}},
		{"no time, no session", 10, []time.Duration{0, 0}, []int{0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := movePace{last: t0}
			for i, d := range c.ticks {
				if got := p.take(t0.Add(d*time.Millisecond), c.rate); got != c.want[i] {
					t.Fatalf("tick %d (%v): %d sessions, want %d", i, d*time.Millisecond, got, c.want[i])
				}
			}
		})
	}
}

// moveTickAt lets the move's timer, armed for at, fire.
func (h *harness) moveTickAt(at time.Time) {
	h.t.Helper()
	h.clk.WaitArmed(h.t, at)
	h.clk.Set(at)
}

// statusMove returns the status's move of backend id, through the
// control socket and valid against the schema.
func statusMove(t *testing.T, h *harness, id backend.ID) (control.SessionMove, bool) {
	t.Helper()
	for _, m := range schemaStatus(t, h).Moves {
		if m.Backend == id {
			return m, true
		}
	}
	return control.SessionMove{}, false
}

// TestMoveSessions: moving the sessions of a puts it in DRAIN and closes
// them at the rate asked, one a tick at 10 a second, the others untouched
// and new clients sent to b; the status shows the move under way, then
// how it ended. A move of b is refused while a takes no client, and so
// are bad rates; a move that the operator ends with `ready` says so.
func TestMoveSessions(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	conns := fourSessions(t, l, h) // 0 and 2 on a, 1 and 3 on b
	t0 := h.clk.Now()
	got, err := h.backendCmd("amqp/a", "move-sessions", "10")
	if err != nil {
		t.Fatal(err)
	}
	if m := got.(control.SessionMove); m.Backend != idA || m.Rate != 10 || m.Sessions != 2 || m.Left != 2 || !m.Running() {
		t.Fatalf("answer %+v, want a move of a's 2 sessions at 10/s", m)
	}
	h.eventually("a DRAIN", func() bool { return h.backendState(idA) == backend.Drain })

	h.moveTickAt(t0.Add(moveTick))
	h.eventually("one session moved", func() bool {
		m, _ := statusMove(t, h, idA)
		return m.Moved == 1 && m.Left == 1 && m.Running()
	})
	h.moveTickAt(t0.Add(2 * moveTick))
	h.eventually("the move ended", func() bool {
		m, _ := statusMove(t, h, idA)
		return !m.Running()
	})
	if m, _ := statusMove(t, h, idA); m.Moved != 2 || m.Left != 0 || m.Outcome != control.OutcomeMoved || m.Paused != "" {
		t.Fatalf("move %+v, want 2 moved, none left", m)
	}
	for i, c := range conns {
		if i%2 == 0 {
			if !closedByPeer(c) {
				t.Errorf("session %d (a) still open", i)
			}
		} else if err := roundTrip(c, []byte("still")); err != nil {
			t.Errorf("session %d (b): %v", i, err)
		}
	}
	echoSession(t, l.bind)
	if n := l.b.accepted(); n != 3 {
		t.Errorf("b accepted %d connections, want 3 (the new client too)", n)
	}

	for _, bad := range [][]string{{"amqp/b", "move-sessions"}, {"amqp/a", "move-sessions", "0"}, {"amqp/a", "move-sessions", "x"},
		{"amqp/a", "move-sessions", "1001"}, {"amqp/z", "move-sessions"}} {
		if _, err := h.backendCmd(bad...); err == nil {
			t.Errorf("%v: no error", bad)
		} else if bad[0] == "amqp/b" && !strings.Contains(err.Error(), "no other backend of listener amqp serves") {
			t.Errorf("%v: %v, want it refused for lack of another backend", bad, err)
		}
	}
	if st := h.backendState(idB); st != backend.Up {
		t.Errorf("b is %v after its move was refused, want UP", st)
	}

	// The operator ends the next move with ready.
	if _, err := h.backendCmd("amqp/a", "ready"); err != nil {
		t.Fatal(err)
	}
	h.eventually("a UP", func() bool { return h.backendState(idA) == backend.Up })
	var onA []net.Conn
	for len(onA) < 2 {
		before := l.a.accepted()
		c := echoSession(t, l.bind)
		if l.a.accepted() > before {
			onA = append(onA, c)
		}
	}
	now := h.clk.Now()
	if _, err := h.backendCmd("amqp/a", "move-sessions", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.backendCmd("amqp/a", "ready"); err != nil {
		t.Fatal(err)
	}
	h.eventually("a UP again", func() bool { return h.backendState(idA) == backend.Up })
	h.moveTickAt(now.Add(moveTick))
	h.eventually("the move ended", func() bool {
		m, _ := statusMove(t, h, idA)
		return !m.Running()
	})
	if m, _ := statusMove(t, h, idA); m.Moved != 0 || m.Left != 2 || m.Outcome != "the backend left DRAIN (now UP)" {
		t.Fatalf("move %+v, want it ended by ready with none moved", m)
	}
	for _, c := range onA {
		if err := roundTrip(c, []byte("kept")); err != nil {
			t.Errorf("a session of a after the move ended: %v", err)
		}
	}
}

// accepted returns how many connections e has accepted.
func (e *echoServer) accepted() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accepts
}

// TestMoveSessionsPaused: while no other backend could take a client (b
// drained too) the move closes nothing and says why; once b serves again
// it goes on.
func TestMoveSessionsPaused(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	fourSessions(t, l, h)
	t0 := h.clk.Now()
	if _, err := h.backendCmd("amqp/a", "move-sessions", "10"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.backendCmd("amqp/b", "drain"); err != nil {
		t.Fatal(err)
	}
	h.eventually("b DRAIN", func() bool { return h.backendState(idB) == backend.Drain })
	h.moveTickAt(t0.Add(moveTick))
	h.eventually("the move paused", func() bool {
		m, _ := statusMove(t, h, idA)
		return m.Paused != ""
	})
	if m, _ := statusMove(t, h, idA); m.Paused != "no other backend of listener amqp serves" || m.Moved != 0 || m.Left != 2 || !m.Running() {
		t.Fatalf("move %+v, want it paused with a's 2 sessions left", m)
	}
	if _, err := h.backendCmd("amqp/b", "ready"); err != nil {
		t.Fatal(err)
	}
	h.eventually("b UP", func() bool { return h.backendState(idB) == backend.Up })
	h.moveTickAt(t0.Add(2 * moveTick))
	h.eventually("one session moved", func() bool {
		m, _ := statusMove(t, h, idA)
		return m.Moved == 1 && m.Paused == ""
	})
}

// TestMoveSessionsBackendRemoved: a reload that removes the backend ends
// its move, saying so.
func TestMoveSessionsBackendRemoved(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	fourSessions(t, l, h)
	t0 := h.clk.Now()
	if _, err := h.backendCmd("amqp/a", "move-sessions", "1"); err != nil {
		t.Fatal(err)
	}
	file := l.file("    track: [{check: amqp/a, weight: -60}]\n", "", "      - {name: a, address: "+l.a.addr()+", weight: 10}\n", "")
	if r := h.reload(file); r.Error != "" || len(r.Refused) > 0 {
		t.Fatalf("reload: %+v", r)
	}
	h.moveTickAt(t0.Add(moveTick))
	h.eventually("the move ended", func() bool {
		m, _ := statusMove(t, h, idA)
		return !m.Running()
	})
	if m, _ := statusMove(t, h, idA); m.Outcome != "the backend was removed from the configuration" {
		t.Fatalf("move %+v, want it ended by the removal", m)
	}
}

// TestMoveSessionsBeforeStart: a move asked for before the daemon is
// ready is refused, not started without an owner.
func TestMoveSessionsBeforeStart(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	if _, err := h.backendCmd("amqp/a", "move-sessions"); err == nil || !strings.Contains(err.Error(), "still starting") {
		t.Fatalf("move before the start: %v, want it refused", err)
	}
}

// schemaStatus returns the daemon's status through the control socket,
// checked against the schema.
func schemaStatus(t *testing.T, h *harness) control.Status {
	t.Helper()
	sch, err := compiledStatusSchema()
	if err != nil {
		t.Fatal(err)
	}
	var s control.Status
	callSchema(t, h, sch, control.Request{Command: "status"}, &s)
	return s
}

// compiledStatusSchema compiles the status schema once for the tests
// that read many statuses.
var compiledStatusSchema = sync.OnceValues(statusschema.Compile)
