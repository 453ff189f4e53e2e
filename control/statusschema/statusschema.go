// Package statusschema holds the JSON Schemas (draft 2020-12) of what the
// daemon's control socket sends: the status, as `rmqlb status --json`
// prints it (control.Status), in status.schema.json, and the sessions, as
// `rmqlb sessions --json` prints them (control.Sessions), in
// sessions.schema.json, the client addresses, as `rmqlb clients --json`
// prints them (control.Clients), in clients.schema.json, and a reload's
// outcome and its dry run, as `rmqlb reload --json` and `rmqlb reload
// --dry-run --json` print them (control.Reload, control.ReloadPlan), in
// reload.schema.json and reloadplan.schema.json. It compiles them for
// tests that check real JSON against them; the daemon and the command do
// not import it.
package statusschema

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	//go:embed status.schema.json
	schema []byte
	//go:embed sessions.schema.json
	sessionsSchema []byte
	//go:embed clients.schema.json
	clientsSchema []byte
	//go:embed reload.schema.json
	reloadSchema []byte
	//go:embed reloadplan.schema.json
	reloadPlanSchema []byte
)

// Schema returns the text of status.schema.json.
func Schema() []byte { return bytes.Clone(schema) }

// SessionsSchema returns the text of sessions.schema.json.
func SessionsSchema() []byte { return bytes.Clone(sessionsSchema) }

// Compile compiles the status schema, with the "format" keyword asserted
// (date-time), so that a status that does not match it fails Validate.
func Compile() (*jsonschema.Schema, error) { return compile("status.schema.json", schema) }

// CompileClients compiles the clients schema, as Compile does.
func CompileClients() (*jsonschema.Schema, error) {
	return compile("clients.schema.json", clientsSchema)
}

// CompileSessions compiles the sessions schema, as Compile does.
func CompileSessions() (*jsonschema.Schema, error) {
	return compile("sessions.schema.json", sessionsSchema)
}

// CompileReload compiles the schema of a reload's outcome, as Compile
// does.
func CompileReload() (*jsonschema.Schema, error) {
	return compile("reload.schema.json", reloadSchema)
}

// CompileReloadPlan compiles the schema of a reload's dry run, as Compile
// does.
func CompileReloadPlan() (*jsonschema.Schema, error) {
	return compile("reloadplan.schema.json", reloadPlanSchema)
}

// compile compiles the schema text of the file name.
func compile(name string, text []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(name, doc); err != nil {
		return nil, fmt.Errorf("adding %s: %w", name, err)
	}
	sch, err := c.Compile(name)
	if err != nil {
		return nil, fmt.Errorf("compiling %s: %w", name, err)
	}
	return sch, nil
}

// Validate checks the JSON document b against the compiled schema sch.
func Validate(sch *jsonschema.Schema, b []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("parsing JSON: %w", err)
	}
	return sch.Validate(v)
}
