package daemon

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
)

// sessionsCmd runs a "sessions" request through Handle.
func (h *harness) sessionsCmd(args ...string) (control.Sessions, error) {
	res, err := h.d.Handle(context.Background(), control.Request{Command: "sessions", Args: args})
	if err != nil {
		return control.Sessions{}, err
	}
	return res.(control.Sessions), nil
}

// TestSessionsRequest: the sessions request lists the listeners'
// sessions by backend with their clients, narrows them by backend and
// cuts them at the limit, not their total; a backend a reload removed
// while keeping its sessions is listed and may be named; an unknown
// listener or backend, or a bad argument, is an error.
func TestSessionsRequest(t *testing.T) {
	l := newLab(t)
	keep := []string{"policy: roundrobin", "policy: roundrobin\n    on_marked_down: keep-sessions"}
	h := newHarness(t, l.file(keep...))
	conns := fourSessions(t, l, h)
	names := func(s control.Sessions) string {
		var out []string
		for _, x := range s.Sessions {
			i := -1
			for j, c := range conns {
				if c.LocalAddr().String() == x.Client.String() {
					i = j
				}
			}
			out = append(out, x.Listener+"/"+x.Backend+":"+string(rune('0'+i)))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		args  []string
		want  string
		total int
	}{
		{nil, "amqp/a:0 amqp/a:2 amqp/b:1 amqp/b:3", 4},
		{[]string{"listener=amqp", "backend=b"}, "amqp/b:1 amqp/b:3", 2},
		{[]string{"limit=3"}, "amqp/a:0 amqp/a:2 amqp/b:1", 4},
		{[]string{"client=127.0.0.9"}, "", 0},
	} {
		s, err := h.sessionsCmd(tc.args...)
		if err != nil || names(s) != tc.want || s.Total != tc.total {
			t.Errorf("sessions %q: %q of %d, %v; want %q of %d", tc.args, names(s), s.Total, err, tc.want, tc.total)
		}
	}

	withoutB := append(keep, "      - {name: b, address: "+l.b.addr()+", weight: 10}\n", "")
	if res := h.reload(l.file(withoutB...)); res.Error != "" || len(res.Refused) > 0 {
		t.Fatalf("reload removing b: %+v", res)
	}
	if s, err := h.sessionsCmd("backend=b"); err != nil || names(s) != "amqp/b:1 amqp/b:3" {
		t.Errorf("sessions of b, removed with its sessions kept: %q, %v", names(s), err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"listener=mgmt"}, `no listener "mgmt"`},
		{[]string{"backend=c"}, `no backend "c" in any listener`},
		{[]string{"listener=amqp", "backend=c"}, `no backend "c" in listener amqp`},
		{[]string{"limit=-1"}, "limit must be"},
		{[]string{"amqp"}, "is not KEY=VALUE"},
	} {
		if s, err := h.sessionsCmd(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sessions %q: %+v, %v; want an error with %q", tc.args, s, err, tc.want)
		}
	}
}

// TestSessionsAcrossListeners: sessions come by listener in the file's
// order, and the limit counts across listeners while the total counts
// all.
func TestSessionsAcrossListeners(t *testing.T) {
	l := newLab(t)
	mgmt := freeport.Addr(t, "127.0.0.1")
	file := l.file() + "  - name: mgmt\n    bind: " + mgmt + "\n    backends:\n      - {name: c, address: " + l.c.addr() + "}\n"
	h := newHarness(t, file)
	h.start()
	idC := backend.ID{Listener: "mgmt", Name: "c"}
	for _, id := range []backend.ID{idA, idB, idC} {
		h.checks.get(id).answer(t, healthcheck.Result{})
	}
	h.ready()
	h.eventually("a, b and c UP in the listeners", func() bool {
		return h.backendState(idA) == backend.Up && h.backendState(idB) == backend.Up && h.backendState(idC) == backend.Up
	})
	for _, addr := range []string{mgmt, l.bind, mgmt, l.bind} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := roundTrip(c, []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	s, err := h.sessionsCmd("limit=3")
	var got []string
	for _, x := range s.Sessions {
		got = append(got, x.Listener+"/"+x.Backend)
	}
	if err != nil || s.Total != 4 || strings.Join(got, " ") != "amqp/a amqp/b mgmt/c" {
		t.Errorf("limit 3: %q of %d, %v; want amqp/a amqp/b mgmt/c of 4", got, s.Total, err)
	}
	if s, err := h.sessionsCmd("listener=mgmt", "limit=1"); err != nil || s.Total != 2 || len(s.Sessions) != 1 || s.Sessions[0].Listener != "mgmt" {
		t.Errorf("mgmt, limit 1: %+v, %v", s, err)
	}
}

// TestShutdownSessionsRequest: a shutdown-sessions request closes the
// sessions of a client, then of a backend, and says how many; the others
// keep working. Without a listener, backend or client, with a limit, or
// naming what the daemon lacks, it is refused and closes nothing.
func TestShutdownSessionsRequest(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	conns := fourSessions(t, l, h)
	shut := func(args ...string) (control.SessionsShutdown, error) {
		res, err := h.d.Handle(context.Background(), control.Request{Command: "shutdown-sessions", Args: args})
		if err != nil {
			return control.SessionsShutdown{}, err
		}
		return res.(control.SessionsShutdown), nil
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "name a listener, a backend, a client or the clients not allowed"},
		{[]string{"listener=amqp", "limit=1"}, "a limit does not apply"},
		{[]string{"listener=mgmt"}, `no listener "mgmt"`},
		{[]string{"backend=c"}, `no backend "c" in any listener`},
		{[]string{"client=10.0.0.0/33"}, "not an address, a prefix or an address:port"},
	} {
		if res, err := shut(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("shutdown-sessions %q: %+v, %v; want an error with %q", tc.args, res, err, tc.want)
		}
	}
	if s, _ := h.sessionsCmd(); s.Total != 4 {
		t.Fatalf("after refused requests: %d sessions, want 4", s.Total)
	}
	// The listener has no allowed_clients: no client is outside it.
	if res, err := shut("not_allowed=true"); err != nil || res.Closed != 0 {
		t.Fatalf("shutdown-sessions of the clients not allowed, without a list: %+v, %v; want 0 closed", res, err)
	}
	if res, err := shut("listener=amqp", "backend=b"); err != nil || res.Closed != 2 {
		t.Fatalf("shutdown-sessions of b: %+v, %v; want 2 closed", res, err)
	}
	onlyClosed(t, conns, "b")
	// Every test client dials from the same address: its sessions left
	// are a's two.
	client := conns[0].LocalAddr().(*net.TCPAddr).AddrPort().Addr().String()
	if res, err := shut("client=" + client); err != nil || res.Closed != 2 {
		t.Fatalf("shutdown-sessions of client %s: %+v, %v; want 2 closed", client, res, err)
	}
	for _, i := range []int{0, 2} {
		if !closedByPeer(conns[i]) {
			t.Errorf("session %d still open", i)
		}
	}
	if res, err := shut("listener=amqp", "backend=a"); err != nil || res.Closed != 0 {
		t.Errorf("shutdown-sessions of a, with none left: %+v, %v", res, err)
	}
}
