package control

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control/statusschema"
)

// clientsFixture is a clients answer: a listener with a limit, one address
// at it, one its allowed_clients leaves out and more addresses than
// listed, and one without a limit or client.
func clientsFixture() Clients {
	a := netip.MustParseAddr
	return Clients{Now: fixtureNow, Listeners: []ListenerClients{
		{Listener: "amqp", Clients: 7, MaxConnPerClient: 200, AtLimit: 1, List: []balancer.ClientSnapshot{
			{Address: a("10.1.0.7"), Sessions: 200}, {Address: a("fd00::9"), Sessions: 12, NotAllowed: true}, {Address: a("10.1.0.3"), Sessions: 1}}},
		{Listener: "mgmt", List: []balancer.ClientSnapshot{}},
	}}
}

// TestClientsSchema: the JSON of a clients answer is valid against
// clients.schema.json, and the schema is strict: a field renamed or
// missing, or a value of the wrong kind, fails validation.
func TestClientsSchema(t *testing.T) {
	sch, err := statusschema.CompileClients()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(clientsFixture())
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(decode(t, raw)); err != nil {
		t.Fatalf("the fixture does not match the schema: %v\n%s", err, raw)
	}
	if n := checkFieldsStrict(t, sch, raw, map[string]bool{"not_allowed": true}, nil); n < 15 {
		t.Fatalf("only %d fields found in the fixture", n)
	}
	for _, c := range []struct {
		path []string
		key  string
		v    any
	}{
		{[]string{"listeners", "0"}, "listener", ""},
		{[]string{"listeners", "0"}, "clients", -1},
		{[]string{"listeners", "0", "list", "0"}, "address", "10.1.0.7:5672"},
		{[]string{"listeners", "0", "list", "0"}, "sessions", 0},
		{nil, "now", "just now"},
	} {
		doc := decode(t, raw)
		lookup(t, doc, c.path)[c.key] = c.v
		if sch.Validate(doc) == nil {
			t.Errorf("%s.%s = %v: still valid", strings.Join(c.path, "."), c.key, c.v)
		}
	}
}

// TestClientsRequest: a request travels as its arguments and back, and
// bad arguments are refused naming what is wrong.
func TestClientsRequest(t *testing.T) {
	for _, r := range []ClientsRequest{{}, {Listener: "amqp"}, {Limit: 5}, {Listener: "a", Limit: MaxClientsLimit}} {
		got, err := ParseClientsRequest(r.Args())
		if err != nil || got != r {
			t.Errorf("%+v: args %q parse as %+v, %v", r, r.Args(), got, err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"limit=0"}, "limit must be 1..100000"},
		{[]string{"limit=x"}, "limit must be"},
		{[]string{"listener=a", "listener=b"}, "listener given twice"},
		{[]string{"client=10.0.0.1"}, `unknown key "client"`},
		{[]string{"amqp"}, `"amqp" is not KEY=VALUE`},
	} {
		if _, err := ParseClientsRequest(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.args, err, c.want)
		}
	}
}

// TestFormatClients: one row per address with its sessions against the
// limit, AT LIMIT at it, and a line per listener that counts its
// addresses, says how many were left out, and how many are at the limit.
func TestFormatClients(t *testing.T) {
	var b bytes.Buffer
	if err := FormatClients(&b, clientsFixture(), 3); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"LISTENER  CLIENT    SESSIONS",
		"amqp      10.1.0.7  200/200 AT LIMIT",
		"amqp      fd00::9   12/200 NOT ALLOWED",
		"amqp      10.1.0.3  1/200",
		"amqp: 3 of 7 client addresses (limit 3), 1 at maxconn_per_client (200)",
		"mgmt: 0 client addresses",
	}
	if got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", b.String(), strings.Join(want, "\n"))
	}
	b.Reset()
	if err := FormatClients(&b, Clients{Listeners: []ListenerClients{{Listener: "amqp", Clients: 1,
		List: []balancer.ClientSnapshot{{Address: netip.MustParseAddr("10.1.0.7"), Sessions: 3}}}}}, 100); err != nil {
		t.Fatal(err)
	}
	if want := "LISTENER  CLIENT    SESSIONS\namqp      10.1.0.7  3\namqp: 1 client address\n"; b.String() != want {
		t.Errorf("without a limit: got\n%s\nwant\n%s", b.String(), want)
	}
}

// FuzzParseClientsRequest: any arguments give a request or an error, and
// a request read back from its Args is the same request.
func FuzzParseClientsRequest(f *testing.F) {
	f.Add("listener=amqp", "limit=3")
	f.Add("limit=100000", "listener==")
	f.Fuzz(func(t *testing.T, a, b string) {
		r, err := ParseClientsRequest([]string{a, b})
		if err != nil {
			return
		}
		if again, err := ParseClientsRequest(r.Args()); err != nil || again != r {
			t.Fatalf("%+v read back from %q: %+v, %v", r, r.Args(), again, err)
		}
	})
}
