package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a configuration file.
type FieldError struct {
	// Field is the path of the field in the file, such as
	// "vrrp_instances[0].priority"; empty for a problem of the whole file.
	Field string
	// Line is the 1-based line of the field in the file, 0 when unknown.
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error formats the problem as "line N: field: what is wrong".
func (e FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a file, in file order. Load returns an
// Errors value (never empty) when the file is not valid.
type Errors []FieldError

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
