package migrate

import (
	"errors"
	"fmt"
)

// Pos is a line of an input file: the file's path as it was given (an
// included file's as its include resolved it) and the line, from 1.
type Pos struct {
	File string
	Line int
}

// String formats p as "file:line", the form compilers use.
func (p Pos) String() string { return fmt.Sprintf("%s:%d", printable(p.File), p.Line) }

// SyntaxError is an input that cannot be read as its format: where, and
// what is wrong. Import returns one for the first such problem; the
// translation does not start.
type SyntaxError struct {
	Pos Pos
	Msg string
}

// Error returns "file:line: msg".
func (e *SyntaxError) Error() string { return e.Pos.String() + ": " + e.Msg }

// errAt returns a SyntaxError at p.
func errAt(p Pos, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// errUnterminatedQuote is the error of a line whose quote is not closed.
var errUnterminatedQuote = errors.New("unterminated quote")
