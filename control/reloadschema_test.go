package control

import (
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rmqlb/rmqlb/control/statusschema"
)

// TestReloadSchemas: the JSON of a reload's outcome and of its dry run,
// every field set, is valid against reload.schema.json and
// reloadplan.schema.json, and so is one with only its time; the schemas
// are strict: a field renamed fails, one left out fails only if it is
// always sent, and a value of the wrong kind fails.
func TestReloadSchemas(t *testing.T) {
	reload, err := statusschema.CompileReload()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := statusschema.CompileReloadPlan()
	if err != nil {
		t.Fatal(err)
	}
	full := []struct {
		name     string
		v        any
		optional map[string]bool
	}{
		{"reload", Reload{At: fixtureNow, Error: "line 3: listeners[0].bind: not an address",
			Applied: []string{"listener amqp updated"}, Refused: []string{"listener mgmt: address in use"},
			Pending: []string{"line 5: vrrp_instances[0].interface: changed from eth0 to eth1: needs a restart"}},
			map[string]bool{"error": true, "applied": true, "refused": true, "pending": true}},
		{"reload plan", ReloadPlan{At: fixtureNow, File: "/etc/rmqlb/rmqlb.yaml.new", Error: "bad", Blocked: "an upgrade is under way",
			Changes: []PlannedChange{{Change: "listener amqp updated", Effects: []string{"backend b removed: its 2 sessions are closed at once"}}},
			Refused: []string{"vrrp instance w: 192.0.2.100 is still a VIP of vrrp instance v"},
			Pending: []string{"line 5: x: needs a restart"}, Warnings: []string{"a warning"}},
			map[string]bool{"file": true, "error": true, "blocked": true, "changes": true, "refused": true, "pending": true, "warnings": true, "effects": true}},
	}
	for i, c := range full {
		sch := []*jsonschema.Schema{reload, plan}[i]
		raw, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(decode(t, raw)); err != nil {
			t.Fatalf("%s: the fixture does not match the schema: %v\n%s", c.name, err, raw)
		}
		if n := checkFieldsStrict(t, sch, raw, c.optional, nil); n < 5 {
			t.Fatalf("%s: only %d fields found in the fixture", c.name, n)
		}
		bare, _ := json.Marshal(map[string]any{"at": fixtureNow})
		if err := sch.Validate(decode(t, bare)); err != nil {
			t.Errorf("%s with only its time: %v", c.name, err)
		}
	}
	for _, c := range []struct {
		name string
		doc  string
	}{
		{"applied not a list", `{"at": "2026-11-25T12:00:00Z", "applied": "listener amqp updated"}`},
		{"an empty list", `{"at": "2026-11-25T12:00:00Z", "applied": []}`},
		{"at not a time", `{"at": "now"}`},
	} {
		if reload.Validate(decode(t, []byte(c.doc))) == nil {
			t.Errorf("reload, %s: still valid", c.name)
		}
	}
	for _, c := range []struct {
		name string
		doc  string
	}{
		{"a change without its name", `{"at": "2026-11-25T12:00:00Z", "changes": [{"effects": ["x"]}]}`},
		{"a change as a string", `{"at": "2026-11-25T12:00:00Z", "changes": ["listener amqp updated"]}`},
		{"an empty effect", `{"at": "2026-11-25T12:00:00Z", "changes": [{"change": "x", "effects": [""]}]}`},
		{"applied, a reload's field", `{"at": "2026-11-25T12:00:00Z", "applied": ["x"]}`},
	} {
		if plan.Validate(decode(t, []byte(c.doc))) == nil {
			t.Errorf("reload plan, %s: still valid", c.name)
		}
	}
}
