package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control/statusschema"
)

// compileSchema compiles the status schema.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	sch, err := statusschema.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// decode parses JSON as the validator wants it (numbers as json.Number).
func decode(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func marshal(t *testing.T, s Status) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// schemaFixtures are statuses that, together, set every field of the
// schema.
func schemaFixtures() map[string]Status {
	refused := fullFixture()
	refused.Reload = &Reload{At: fixtureNow, Error: "line 3: listeners[0].bind: must be an address:port"}
	refused.Verdict = Assess(refused)
	refused.Listeners[0].DeniedClients, refused.Listeners[0].RefusedDenied = []netip.Prefix{netip.MustParsePrefix("198.51.100.4/32")}, 3
	loops := healthyFixture()
	loops.Listeners[0].Backends[1].LoopsBack = true
	loops.Verdict = Assess(loops)
	standby := healthyFixture()
	standby.Listeners[0].Backends[1].Backup = true
	standby.Listeners[0].AllBackups = true
	standby.Verdict = Assess(standby)
	atMax := healthyFixture()
	atMax.Listeners[0].Backends[0].MaxConn = atMax.Listeners[0].Backends[0].Active
	atMax.Listeners[0].Backends[0].Full = true
	atMax.Verdict = Assess(atMax)
	unreadable := healthyFixture()
	unreadable.ConfigChange = &ConfigChange{Error: "open /etc/rmqlb/rmqlb.yaml: permission denied"}
	listChanged := healthyFixture()
	listChanged.ConfigChange = &ConfigChange{File: "/etc/rmqlb/allowed.lst", Field: "listeners[0].allowed_clients_file", Modified: fixtureNow.Add(-3 * time.Minute)}
	listUnreadable := healthyFixture()
	listUnreadable.ConfigChange = &ConfigChange{File: "/etc/rmqlb/denied.lst", Field: "listeners[0].denied_clients_file", Error: "open /etc/rmqlb/denied.lst: no such file or directory"}
	unrestored := healthyFixture()
	unrestored.StateFile = &StateFileError{Path: "/var/lib/rmqlb/state.json", Op: StateFileRead, Since: fixtureNow.Add(-time.Hour),
		Error: "reading state: backends[0]: admin \"broken\", want drain or maint"}
	starting := healthyFixture()
	starting.Starting = &Starting{Step: "waiting for the first health checks before VRRP", Until: fixtureNow.Add(3 * time.Second)}
	starting.Verdict = Assess(starting)
	stopping := healthyFixture()
	stopping.Stopping = &Stopping{Since: fixtureNow.Add(-time.Second), Step: "finishing the listeners' sessions", Until: fixtureNow.Add(9 * time.Second)}
	stopping.Listeners[0].Listening = false
	stopping.Verdict = Assess(stopping)
	refusedLogin := healthyFixture()
	refusedLogin.Listeners[0].Backends[1].State = backend.Degraded
	c := &refusedLogin.Checks[1]
	c.State, c.Health, c.LastRefused = backend.Degraded, backend.Degraded, true
	c.Reason, c.LastWarning = "login refused: 403 ACCESS_REFUSED", "login refused: 403 ACCESS_REFUSED"
	c.RefusedAlone = []string{"rmq1", "rmq3"}
	refusedLogin.Verdict = Assess(refusedLogin)
	return map[string]Status{"refused-login": refusedLogin, "starting": starting, "stopping": stopping, "full": fullFixture(), "healthy": healthyFixture(), "reload-refused": refused, "loops-back": loops, "backup": standby,
		"backend-at-maxconn": atMax, "config-unreadable": unreadable, "state-file-unread": unrestored,
		"client-list-changed": listChanged, "client-list-unreadable": listUnreadable}
}

// TestSchemaValidatesStatus: the JSON of real Status values is valid.
func TestSchemaValidatesStatus(t *testing.T) {
	sch := compileSchema(t)
	for name, s := range schemaFixtures() {
		if err := sch.Validate(decode(t, marshal(t, s))); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The daemon's status before anything ran: empty lists, no reload.
	empty := Status{Version: "dev", PID: 1, VRRP: []VRRP{}, Listeners: nil, Checks: nil}
	empty.Verdict = Assess(empty)
	if err := sch.Validate(decode(t, marshal(t, empty))); err == nil {
		t.Error("null listeners and checks accepted: the daemon must send empty lists")
	}
}

// TestSchemaCoversStatus: every property the schema declares appears in
// the fixtures' JSON, so TestSchemaIsStrict exercises each of them.
func TestSchemaCoversStatus(t *testing.T) {
	raw := statusschema.Schema()
	declared := map[string]bool{}
	var props func(v any)
	props = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if p, ok := v["properties"].(map[string]any); ok {
				for k := range p {
					declared[k] = true
				}
			}
			for _, c := range v {
				props(c)
			}
		case []any:
			for _, c := range v {
				props(c)
			}
		}
	}
	props(decode(t, raw))
	seen := map[string]bool{}
	for _, s := range schemaFixtures() {
		walkObjects(decode(t, marshal(t, s)), nil, func(path []string, obj map[string]any) {
			for k := range obj {
				seen[k] = true
			}
		})
	}
	for _, k := range slices.Sorted(maps.Keys(declared)) {
		if !seen[k] {
			t.Errorf("schema property %q appears in no fixture", k)
		}
	}
}

// optional are the properties that may be absent (omitempty in Go), by
// name; a path (false) marks where one of a name optional elsewhere is
// required.
var optional = map[string]bool{
	"reload": true, "error": true, "applied": true, "refused": true, "conflict": true, "differing_addresses": true, "lower_master": true, "send_failing": true, "pending": true, "owner_fault": true,
	"master": true, "tracks": true, "last_garp": true, "last_error": true, "fault": true, "sticky": true,
	"expires": true, "last_warning": true, "last_info": true, "history": true,
	"released_since": true, "released_until": true, "release_reason": true, "handover": true, "requested": true,
	"done": true, "notify": true, "last_error_at": true, "last": true, "last_peer_announce": true, "last_peer_mac": true, "peer_superseded": true,
	"realtime": true, "sender": true, "last_inconclusive": true, "recent_downs": true, "recent_transitions": true, "removed_backends": true,
	"loops_back": true, "open_files": true, "backup": true, "full": true, "cluster": true, "certificates": true, "config_change": true,
	"state_file_error": true, "config_warnings": true, "busiest_clients": true, "allowed_clients": true, "denied_clients": true, "not_allowed_clients": true, "not_allowed": true, "moves": true, "rebalances": true, "paused": true, "ended": true, "outcome": true, "sessions_ended": true, "previous_process": true, "sessions_left": true, "client_list_files": true,
	// Required where it says what failed.
	"state_file_error.error":              false,
	"vrrp_instances.1.send_failing.error": false,
	"vrrp_instances.1.handover.outcome":   false,
	// Counts by reason: only the reasons some session ended for are there.
	"listeners.0.backends.0.sessions_ended.client_closed": true,
	"listeners.0.backends.0.sessions_ended.broker_closed": true,
	"listeners.0.backends.0.sessions_ended.broker_reset":  true,
	"listeners.0.backends.0.sessions_ended.moved":         true,
}

// TestSchemaIsStrict: renaming any field of the status JSON, removing a
// field that is always sent, or sending a value of the wrong kind fails
// validation.
func TestSchemaIsStrict(t *testing.T) {
	sch := compileSchema(t)
	raw := marshal(t, fullFixture())
	dropped := func(path []string) bool { return len(path) > 0 && path[len(path)-1] == "dropped" } // a map by drop reason
	if n := checkFieldsStrict(t, sch, raw, optional, dropped); n < 150 {
		t.Fatalf("only %d fields found in the fixture", n)
	}
	for _, c := range []struct {
		path []string
		key  string
		v    any
	}{
		{[]string{"listeners", "0", "backends", "0"}, "state", "SICK"},
		{[]string{"vrrp_instances", "0"}, "state", "LEADER"},
		{[]string{"listeners", "0"}, "active_conns", "7"},
		{[]string{"listeners", "0"}, "bind", "somewhere"},
		{[]string{"vrrp_instances", "0"}, "since", "yesterday"},
		{[]string{"vrrp_instances", "0"}, "vips", []any{"10.77.0.100"}},
		{[]string{"vrrp_instances", "0"}, "vips", []any{"10.77.0.100:1/24"}}, // not IPv6 for one colon
		{[]string{"vrrp_instances", "0"}, "source", "10.77.0.1:5672"},
		{[]string{"checks", "0"}, "backend", "rmq1"},
		{[]string{"verdict"}, "reasons", nil},
	} {
		doc := decode(t, raw)
		lookup(t, doc, c.path)[c.key] = c.v
		if sch.Validate(doc) == nil {
			t.Errorf("%s.%s = %v: still valid", strings.Join(c.path, "."), c.key, c.v)
		}
	}
}

// checkFieldsStrict renames, then removes, each field of the JSON
// document raw in turn (but those of the objects skip picks) and fails t
// where a renamed field still validates against sch, or a removed one's
// document validates other than optional[key] says. It returns how many
// fields it tried.
func checkFieldsStrict(t *testing.T, sch *jsonschema.Schema, raw []byte, optional map[string]bool, skip func(path []string) bool) int {
	t.Helper()
	type field struct {
		path []string
		key  string
	}
	var fields []field
	walkObjects(decode(t, raw), nil, func(path []string, obj map[string]any) {
		if skip != nil && skip(path) {
			return
		}
		for k := range obj {
			fields = append(fields, field{slices.Clone(path), k})
		}
	})
	for _, f := range fields {
		where := strings.Join(append(slices.Clone(f.path), f.key), ".")
		doc := decode(t, raw)
		obj := lookup(t, doc, f.path)
		obj[f.key+"_renamed"] = obj[f.key]
		delete(obj, f.key)
		if sch.Validate(doc) == nil {
			t.Errorf("%s renamed: still valid", where)
		}
		doc = decode(t, raw)
		delete(lookup(t, doc, f.path), f.key)
		opt, ok := optional[where] // a field of that path
		if !ok {
			opt = optional[f.key] // every field of that name
		}
		if err := sch.Validate(doc); (err == nil) != opt {
			t.Errorf("%s removed: valid %v, want %v (optional: %v)", where, err == nil, opt, opt)
		}
	}
	return len(fields)
}

// walkObjects calls fn for every object in v with its path (object keys
// and array indexes).
func walkObjects(v any, path []string, fn func(path []string, obj map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(path, v)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			walkObjects(v[k], append(path, k), fn)
		}
	case []any:
		for i, c := range v {
			walkObjects(c, append(path, fmt.Sprint(i)), fn)
		}
	}
}

// lookup returns the object at path in doc.
func lookup(t *testing.T, doc any, path []string) map[string]any {
	t.Helper()
	for _, p := range path {
		switch d := doc.(type) {
		case map[string]any:
			doc = d[p]
		case []any:
			var i int
			fmt.Sscan(p, &i)
			doc = d[i]
		}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("no object at %v", path)
	}
	return obj
}
