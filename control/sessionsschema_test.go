package control

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control/statusschema"
)

// sessionsFixture is a sessions answer with a session in each state: one
// established, one closing, one still connecting (no source yet).
func sessionsFixture() Sessions {
	now := fixtureNow
	ap := netip.MustParseAddrPort
	return Sessions{Now: now, Total: 5, Sessions: []ListenerSession{
		{Listener: "amqp", SessionInfo: balancer.SessionInfo{Client: ap("10.1.2.3:51000"), Backend: "rmq1",
			Source: ap("10.77.0.1:40112"), BackendAddress: ap("10.77.0.1:5672"), State: balancer.SessionEstablished,
			Since: now.Add(-time.Hour), LastActive: now.Add(-2 * time.Second), BytesIn: 1 << 20, BytesOut: 3 << 20}},
		{Listener: "amqp", SessionInfo: balancer.SessionInfo{Client: ap("[fd00::5]:51001"), Backend: "rmq2",
			Source: ap("[fd00:77::1]:40113"), BackendAddress: ap("[fd00:77::2]:5672"), State: balancer.SessionClosing,
			Since: now.Add(-time.Minute), LastActive: now, BytesIn: 8, BytesOut: 0}},
		{Listener: "mgmt", SessionInfo: balancer.SessionInfo{Client: ap("10.1.2.4:51002"), Backend: "rmq3",
			BackendAddress: ap("10.77.0.3:15672"), State: balancer.SessionConnecting, Since: now, LastActive: now}},
	}}
}

func compileSessionsSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	sch, err := statusschema.CompileSessions()
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// TestSessionsSchema: the JSON of a sessions answer is valid against
// sessions.schema.json, and the schema is strict: a field renamed or
// missing (but for those sent only when known), or a value of the wrong
// kind, fails validation.
func TestSessionsSchema(t *testing.T) {
	sch := compileSessionsSchema(t)
	raw, err := json.Marshal(sessionsFixture())
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(decode(t, raw)); err != nil {
		t.Fatalf("the fixture does not match the schema: %v\n%s", err, raw)
	}
	empty, _ := json.Marshal(Sessions{Now: fixtureNow, Sessions: []ListenerSession{}})
	if err := sch.Validate(decode(t, empty)); err != nil {
		t.Errorf("no session: %v", err)
	}
	if n := checkFieldsStrict(t, sch, raw, map[string]bool{"backend": true, "source": true, "backend_address": true}, nil); n < 20 {
		t.Fatalf("only %d fields found in the fixture", n)
	}
	for _, c := range []struct {
		key string
		v   any
	}{
		{"state", "open"},
		{"client", "somewhere"},
		{"backend_address", "10.77.0.1"},
		{"bytes_in", "7"},
		{"since", "an hour ago"},
		{"listener", ""},
	} {
		doc := decode(t, raw)
		lookup(t, doc, []string{"sessions", "0"})[c.key] = c.v
		if sch.Validate(doc) == nil {
			t.Errorf("sessions.0.%s = %v: still valid", c.key, c.v)
		}
	}
}
