// Package statusschema is the JSON Schema (draft 2020-12) of the status
// the daemon's control socket sends, as `rmqlb status --json` prints it
// (control.Status): status.schema.json in this directory. It compiles the
// schema for tests that check real status JSON against it; the daemon and
// the command do not import it.
package statusschema

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed status.schema.json
var schema []byte

// Schema returns the text of status.schema.json.
func Schema() []byte { return bytes.Clone(schema) }

// Compile compiles the schema, with the "format" keyword asserted
// (date-time), so that a status that does not match it fails Validate.
func Compile() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("parsing status.schema.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("status.schema.json", doc); err != nil {
		return nil, fmt.Errorf("adding status.schema.json: %w", err)
	}
	sch, err := c.Compile("status.schema.json")
	if err != nil {
		return nil, fmt.Errorf("compiling status.schema.json: %w", err)
	}
	return sch, nil
}

// Validate checks the JSON document b against the compiled schema sch.
func Validate(sch *jsonschema.Schema, b []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("parsing status JSON: %w", err)
	}
	return sch.Validate(v)
}
