package daemon

import (
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/control/statusschema"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/metricstest"
	"github.com/rmqlb/rmqlb/vrrp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestStatusJSONMatchesSchema: the status a running daemon sends on its
// control socket (a VRRP instance, a listener with persistence entries,
// checks) is valid against control/statusschema/status.schema.json.
func TestStatusJSONMatchesSchema(t *testing.T) {
	sch, err := statusschema.Compile()
	if err != nil {
		t.Fatal(err)
	}

	h := startWithSticky(t)
	h.checks.get(idA).always(healthcheck.Result{})
	h.checks.get(idB).always(healthcheck.Result{})
	h.eventually("MASTER", func() bool {
		h.clk.Advance(20 * time.Millisecond)
		return h.vrrpSnapshot().State == vrrp.StateMaster
	})
	h.d.Reload() // the same file: a reload outcome in status

	var s control.Status
	status := callSchema(t, h, sch, control.Request{Command: "status"}, &s)
	if s.Reload == nil || len(s.VRRP) != 1 || len(s.Checks) != 2 || s.Listeners[0].StickyEntries != 1 || len(s.Listeners[0].Sticky) != 1 {
		t.Fatalf("the status lacks parts the schema test needs: %s", status)
	}
	// Its own files: at least the listening socket and the session's two.
	if o := s.OpenFiles; o == nil || o.Open < 3 || o.Limit != openFilesLimit() {
		t.Errorf("open files %+v, want at least 3 of the limit %d", o, openFilesLimit())
	}
	if s.Verdict.Degraded || s.Verdict.Summary != "MASTER of 192.0.2.100 (v); 2/2 backends up" {
		t.Errorf("verdict %+v", s.Verdict)
	}
}

// TestStatusForServiceManager: the status the service manager's line is
// made of every second leaves out the costly parts (the persistence
// entries, walked under the lock new connections wait for, and the open
// files); the verdict is the same as the full status's.
func TestStatusForServiceManager(t *testing.T) {
	h := startWithSticky(t)
	full, line := h.d.Status(), h.d.status(false)
	if len(full.Listeners[0].Sticky) != 1 || full.OpenFiles == nil {
		t.Fatalf("full status: sticky %v, open files %v; want both", full.Listeners[0].Sticky, full.OpenFiles)
	}
	if line.Listeners[0].Sticky != nil || line.OpenFiles != nil || line.Listeners[0].StickyEntries != 1 {
		t.Errorf("status for the service manager: sticky %v (%d entries), open files %v; want no list, the count, no files",
			line.Listeners[0].Sticky, line.Listeners[0].StickyEntries, line.OpenFiles)
	}
	if statusLine(line) != statusLine(full) {
		t.Errorf("status lines differ: %q, %q", statusLine(line), statusLine(full))
	}
}

// startWithSticky starts a daemon whose listener has persistence on and
// one client session through it (open until the test ends), so that its
// status lists a persistence entry.
func startWithSticky(t *testing.T) *harness {
	t.Helper()
	l := newLab(t)
	h := newHarness(t, l.file("policy: roundrobin", "policy: roundrobin\n    persistence_timeout: 1m"))
	startChecked(t, h)
	conn, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := roundTrip(conn, []byte("x")); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestStatusShowsBackendsAtMaxconn: with every backend at its maxconn, the
// status a running daemon sends marks each full, is valid against the
// schema and is degraded, naming them; once a session ends, its backend
// takes clients again and the verdict is healthy.
func TestStatusShowsBackendsAtMaxconn(t *testing.T) {
	sch, err := statusschema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t)
	h := newHarness(t, l.file("weight: 10}", "weight: 10, maxconn: 2}", "weight: 10}", "weight: 10, maxconn: 2}"))
	conns := fourSessions(t, l, h)
	call := func() control.Status {
		t.Helper()
		var s control.Status
		callSchema(t, h, sch, control.Request{Command: "status"}, &s)
		return s
	}
	s := call()
	for _, b := range s.Listeners[0].Backends {
		if !b.Full || b.Active != 2 || b.MaxConn != 2 {
			t.Errorf("backend %s: full %v, %d of maxconn %d; want full, 2 of 2", b.Name, b.Full, b.Active, b.MaxConn)
		}
	}
	want := "listener amqp: every backend that serves is at its maxconn (a (2), b (2)): new clients are refused until a session ends"
	if v := s.Verdict; !v.Degraded || len(v.Reasons) != 1 || !strings.HasPrefix(v.Reasons[0], want) || !strings.HasSuffix(v.Summary, "2/2 backends up (2 at maxconn)") {
		t.Fatalf("verdict %+v, want degraded with %q", v, want)
	}
	// A fifth client is refused, as the verdict says.
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !closedByPeer(c) {
		t.Error("a fifth client was not refused")
	}
	conns[0].Close() // a session of a ends
	h.eventually("a below its maxconn", func() bool {
		s := call()
		return !s.Verdict.Degraded && !s.Listeners[0].Backends[0].Full && s.Listeners[0].Backends[1].Full
	})
}

// TestStatusShowsClientAtLimit: a client address that holds its
// listener's maxconn_per_client makes the status of a running daemon
// degraded, naming it, valid against the schema, its next connection is
// refused and counted in the status and the metrics, and another address
// is still served; once one of its sessions ends, the verdict is healthy.
func TestStatusShowsClientAtLimit(t *testing.T) {
	sch, err := statusschema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t)
	h := newHarness(t, l.file("policy: roundrobin", "policy: roundrobin\n    maxconn_per_client: 4"))
	conns := fourSessions(t, l, h) // each from 127.0.0.1
	c, err := net.Dial("tcp", l.bind)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !closedByPeer(c) {
		t.Fatal("a fifth connection from 127.0.0.1 was not refused")
	}
	servedFrom(t, l.bind, net.IPv4(127, 0, 0, 9))
	var s control.Status
	callSchema(t, h, sch, control.Request{Command: "status"}, &s)
	ls := s.Listeners[0]
	if ls.MaxConnPerClient != 4 || ls.RefusedPerClient != 1 || ls.Clients != 2 || ls.ClientsAtLimit != 1 {
		t.Errorf("listener: limit %d, %d refused, %d clients, %d at limit; want 4, 1, 2, 1", ls.MaxConnPerClient, ls.RefusedPerClient, ls.Clients, ls.ClientsAtLimit)
	}
	want := "listener amqp: client 127.0.0.1 holds 4 connections (maxconn_per_client: 4): new connections from there are refused until one ends (1 refused so far)"
	if v := s.Verdict; !v.Degraded || len(v.Reasons) != 1 || !strings.HasPrefix(v.Reasons[0], want) {
		t.Fatalf("verdict %+v, want degraded with %q", v, want)
	}
	mfs := metricstest.Gather(t, h.reg)
	for name, want := range map[string]float64{
		"rmqlb_listener_refused_connections_total":  1,
		"rmqlb_listener_busiest_client_connections": 4,
		"rmqlb_listener_clients":                    2,
		"rmqlb_listener_max_connections_per_client": 4,
	} {
		labels := map[string]string{"listener": "amqp"}
		if name == "rmqlb_listener_refused_connections_total" {
			labels["reason"] = "maxconn_per_client"
		}
		if v := metricstest.Value(t, mfs, name, labels); v != want {
			t.Errorf("%s%v = %v, want %v", name, labels, v, want)
		}
	}
	conns[0].Close()
	h.eventually("127.0.0.1 below its limit", func() bool {
		var s control.Status
		if err := control.Call(h.socket(), control.Request{Command: "status"}, &s, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		return !s.Verdict.Degraded && s.Listeners[0].ClientsAtLimit == 0
	})
}

// TestClientsJSONMatchesSchema: the answer of a running daemon's control
// socket to a clients request is valid against
// control/statusschema/clients.schema.json, lists each client address
// with its sessions, the busiest first, within the limit, and refuses a
// listener it does not have.
func TestClientsJSONMatchesSchema(t *testing.T) {
	sch, err := statusschema.CompileClients()
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t)
	h := newHarness(t, l.file("policy: roundrobin", "policy: roundrobin\n    maxconn_per_client: 4"))
	fourSessions(t, l, h) // each from 127.0.0.1
	servedFrom(t, l.bind, net.IPv4(127, 0, 0, 9))
	for _, limit := range []int{0, 1} {
		var c control.Clients
		callSchema(t, h, sch, control.Request{Command: "clients", Args: control.ClientsRequest{Limit: limit}.Args()}, &c)
		want := []balancer.ClientSnapshot{{Address: netip.MustParseAddr("127.0.0.1"), Sessions: 4}, {Address: netip.MustParseAddr("127.0.0.9"), Sessions: 1}}
		if limit == 1 {
			want = want[:1]
		}
		if len(c.Listeners) != 1 {
			t.Fatalf("limit %d: %+v", limit, c)
		}
		if x := c.Listeners[0]; x.Listener != "amqp" || x.Clients != 2 || x.AtLimit != 1 || x.MaxConnPerClient != 4 || !slices.Equal(x.List, want) {
			t.Errorf("limit %d: %+v; want 2 clients, 1 at the limit of 4, listed %v", limit, x, want)
		}
	}
	err = control.Call(h.socket(), control.Request{Command: "clients", Args: control.ClientsRequest{Listener: "nope"}.Args()}, nil, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), `no listener "nope"`) {
		t.Errorf("clients of an unknown listener: %v", err)
	}
}

// TestSessionsJSONMatchesSchema: the answer of a running daemon's control
// socket to a sessions request is valid against
// control/statusschema/sessions.schema.json.
func TestSessionsJSONMatchesSchema(t *testing.T) {
	sch, err := statusschema.CompileSessions()
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t)
	h := newHarness(t, l.file())
	fourSessions(t, l, h)
	var s control.Sessions
	callSchema(t, h, sch, control.Request{Command: "sessions"}, &s)
	if s.Total != 4 || len(s.Sessions) != 4 {
		t.Errorf("sessions answer: %d of %d; want 4 of 4", len(s.Sessions), s.Total)
	}
}

// callSchema sends req to the daemon's control socket, decodes its answer
// into out and returns it as it came, failing t unless the answer is valid
// against sch.
func callSchema(t *testing.T, h *harness, sch *jsonschema.Schema, req control.Request, out any) json.RawMessage {
	t.Helper()
	var raw json.RawMessage
	if err := control.Call(h.socket(), req, &raw, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := statusschema.Validate(sch, raw); err != nil {
		t.Fatalf("the answer to %s does not match its schema: %v\n%s", req.Command, err, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return raw
}

// servedFrom connects to bind from the local address ip and checks that
// the session carries a round trip; the connection closes with t.
func servedFrom(t *testing.T, bind string, ip net.IP) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	c, err := d.Dial("tcp", bind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := roundTrip(c, []byte("hello")); err != nil {
		t.Fatalf("a client from %s: %v", ip, err)
	}
}
