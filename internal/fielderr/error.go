package fielderr

import (
	"errors"
	"fmt"
)

// Error is one field that a configuration check refuses. It is a plain
// value: build it with New, wrap it (fmt.Errorf with %w) and join it
// (errors.Join) as any error; Split finds it again.
type Error struct {
	// Field is the field's path within the checked value, written with
	// the names its package documents for the configuration file:
	// "weight", "backends[1].weight", "garp.count".
	Field string
	// Err says what is wrong, with the value: "must be 0..65535, not
	// 300000".
	Err error
}

// New returns the Error of field with the message format and args.
func New(field, format string, args ...any) *Error {
	return &Error{Field: field, Err: fmt.Errorf(format, args...)}
}

// Error returns "field: what is wrong".
func (e *Error) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns what is wrong.
func (e *Error) Unwrap() error { return e.Err }

// Split returns every Error in err's tree (errors joined by errors.Join,
// wrapped by fmt.Errorf), in order, and every other error of the tree
// that holds none. A nil err has neither.
func Split(err error) (fields []*Error, others []error) {
	var walk func(error)
	walk = func(err error) {
		var fe *Error
		switch e := err.(type) {
		case nil:
		case *Error:
			fields = append(fields, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		default:
			if inner := errors.Unwrap(err); inner != nil && errors.As(inner, &fe) {
				walk(inner)
				return
			}
			others = append(others, err)
		}
	}
	walk(err)
	return fields, others
}
