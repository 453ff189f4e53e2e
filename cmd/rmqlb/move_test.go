package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/freeport"
)

// TestMoveSessionsCommand runs the real binary: move-sessions --wait
// drains a, moves its two sessions to b's side and exits 0 once none is
// left, and status shows how the move went; a move of b, with a drained,
// is refused (exit 1); the move's flags belong to it alone (exit 2).
func TestMoveSessionsCommand(t *testing.T) {
	a, b := echo(t, "127.0.0.2"), echo(t, "127.0.0.3")
	bind, metrics := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	p := startProc(t, strings.NewReplacer("BIND", bind, "A", a, "B", b, "METRICS", metrics).Replace(statusConfig))
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		s := p.status()
		if len(s.Listeners) == 1 && len(s.Listeners[0].Backends) == 2 &&
			s.Listeners[0].Backends[0].State.String() == "UP" && s.Listeners[0].Backends[1].State.String() == "UP" {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("a and b not UP within 10 s")
		}
	}
	for range 4 {
		pingSession(t, bind)
	}
	if n := p.status().Listeners[0].Backends[0].Active; n != 2 {
		t.Fatalf("a has %d sessions, want 2", n)
	}
	code, out, errOut := cli(t, "backend", "--socket", p.socket, "amqp/a", "move-sessions", "--rate", "20", "--wait")
	if code != 0 || !strings.HasPrefix(out, "amqp/a: DRAIN; moving 2 sessions at 20 a second (about 100ms)\namqp/a: 2 sessions moved in ") ||
		!strings.HasSuffix(out, "; none left\n") {
		t.Fatalf("move-sessions --wait: exit %d\n%s%s", code, out, errOut)
	}
	if s := p.status().Listeners[0].Backends; s[0].Active != 0 || s[0].State.String() != "DRAIN" || s[1].Active != 2 {
		t.Fatalf("after the move: a %s with %d sessions, b %d; want a DRAIN with none, b 2", s[0].State, s[0].Active, s[1].Active)
	}
	if _, out, _ := cli(t, "status", "--socket", p.socket); !strings.Contains(out, "moved the sessions of a: 2 of 2 in ") {
		t.Errorf("status does not show the move:\n%s", out)
	}
	if code, _, errOut := cli(t, "backend", "--socket", p.socket, "amqp/b", "move-sessions"); code != 1 ||
		!strings.Contains(errOut, "no other backend of listener amqp serves") {
		t.Errorf("move of b with a drained: exit %d, %s; want 1 and the reason", code, errOut)
	}
	for _, bad := range [][]string{{"amqp/a", "ready", "--rate", "5"}, {"--wait", "amqp/a", "drain"}, {"amqp/a", "move-sessions", "--rate", "0"},
		{"amqp/a", "move-sessions", "extra"}} {
		if code, _, _ := cli(t, append([]string{"backend", "--socket", p.socket}, bad...)...); code != 2 {
			t.Errorf("backend %q: exit %d, want 2", bad, code)
		}
	}
}

// TestRebalanceCommand runs the real binary: with every session on a
// (b drained while they connected), rebalance --wait closes a's sessions
// above its share and exits 0 once balanced; status shows it; an unknown
// listener is refused (exit 1), a bad command line is exit 2.
func TestRebalanceCommand(t *testing.T) {
	a, b := echo(t, "127.0.0.2"), echo(t, "127.0.0.3")
	bind, metrics := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	p := startProc(t, strings.NewReplacer("BIND", bind, "A", a, "B", b, "METRICS", metrics).Replace(statusConfig))
	backendCmd := func(args ...string) {
		t.Helper()
		if code, out, errOut := cli(t, append([]string{"backend", "--socket", p.socket}, args...)...); code != 0 {
			t.Fatalf("backend %q: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	waitStates := func(sa, sb string) {
		t.Helper()
		for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
			s := p.status()
			if len(s.Listeners) == 1 && len(s.Listeners[0].Backends) == 2 &&
				s.Listeners[0].Backends[0].State.String() == sa && s.Listeners[0].Backends[1].State.String() == sb {
				return
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("a %s and b %s not reached within 10 s", sa, sb)
			}
		}
	}
	waitStates("UP", "UP")
	backendCmd("amqp/b", "drain")
	waitStates("UP", "DRAIN")
	for range 4 {
		reconnecting(t, bind)
	}
	for start := time.Now(); p.status().Listeners[0].Backends[0].Active != 4; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("a does not hold the 4 sessions")
		}
	}
	backendCmd("amqp/b", "ready")
	waitStates("UP", "UP")
	code, out, errOut := cli(t, "rebalance", "--socket", p.socket, "--rate", "20", "--wait", "amqp")
	if code != 0 || !strings.HasPrefix(out, "amqp: rebalancing at 20 a second: a 4 (share 2), b 0 (share 2)\namqp: balanced, ") {
		t.Fatalf("rebalance --wait: exit %d\n%s%s", code, out, errOut)
	}
	if s := p.status().Listeners[0].Backends; s[1].Active == 0 {
		t.Errorf("after the rebalance b has no session")
	}
	if _, out, _ := cli(t, "status", "--socket", p.socket); !strings.Contains(out, "rebalanced: ") {
		t.Errorf("status does not show the rebalance:\n%s", out)
	}
	if code, out, _ := cli(t, "rebalance", "--socket", p.socket, "amqp"); code != 0 || !strings.HasPrefix(out, "amqp: balanced already: a ") {
		t.Errorf("rebalance when balanced: exit %d, %q", code, out)
	}
	if code, _, errOut := cli(t, "rebalance", "--socket", p.socket, "nope"); code != 1 || !strings.Contains(errOut, "no listener nope") {
		t.Errorf("rebalance of an unknown listener: exit %d, %s", code, errOut)
	}
	for _, bad := range [][]string{{}, {"amqp", "extra"}, {"amqp/a"}, {"--rate", "0", "amqp"}} {
		if code, _, _ := cli(t, append([]string{"rebalance", "--socket", p.socket}, bad...)...); code != 2 {
			t.Errorf("rebalance %q: exit %d, want 2", bad, code)
		}
	}
}

// reconnecting keeps a session through the listener at bind, as a client
// that reconnects when its connection closes does, until the test ends.
func reconnecting(t *testing.T, bind string) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
			}
			c, err := net.Dial("tcp", bind)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			go func() { <-done; c.Close() }()
			c.Write([]byte("ping"))
			io.Copy(io.Discard, c) // until the proxy closes it
			c.Close()
		}
	}()
}
