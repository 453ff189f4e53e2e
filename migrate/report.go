package migrate

import (
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind says what became of a directive that has a Note.
type Kind uint8

// Kinds of Note. The zero value is NotTranslated.
const (
	// NotTranslated: the directive has no place in the rmqlb file; Why
	// says why, and what to do instead when there is something to do.
	NotTranslated Kind = iota
	// Changed: the directive was translated, but rmqlb will not do
	// exactly what the source did, or the translation rests on a guess;
	// Why says what differs or what to check.
	Changed
)

// String returns "not translated" or "note".
func (k Kind) String() string {
	if k == Changed {
		return "note"
	}
	return "not translated"
}

// Note is what Import says about one directive of an input file.
type Note struct {
	// Pos is the directive's file and line.
	Pos Pos
	// Directive is the directive as written, shortened (and without its
	// value when that is a password).
	Directive string
	Kind      Kind
	// Why is the reason, starting with "no equivalent:" when rmqlb has
	// nothing like it.
	Why string
}

// String formats n as one line: "file:line: directive: kind: why".
func (n Note) String() string {
	return n.Pos.String() + ": " + n.Directive + ": " + n.Kind.String() + ": " + n.Why
}

// maxDirective is the longest directive text a Note repeats.
const maxDirective = 60

// directive returns the text of a directive for a Note: its words joined,
// cut to maxDirective bytes, with what a terminal would not print
// escaped.
func directive(words ...string) string {
	s := printable(strings.Join(words, " "))
	if len(s) > maxDirective {
		s = strings.ToValidUTF8(s[:maxDirective-3], "") + "..."
	}
	return s
}

// printable returns s with control characters and invalid UTF-8 escaped
// as Go does in quoted strings, so that a note or a comment of the file
// written is one line of text whatever the input holds.
func printable(s string) string {
	ok := utf8.ValidString(s)
	for _, r := range s {
		if !ok || !unicode.IsPrint(r) && r != ' ' {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// notes collects the Notes of one Import. Files are numbered in the order
// they are read, so that the list can be sorted into reading order: by
// input, by file, by line.
type notes struct {
	list  []Note
	seen  map[Note]bool
	order map[string]int
}

// file records that path was read, giving it its place in the order.
func (ns *notes) file(path string) {
	if ns.order == nil {
		ns.order = map[string]int{}
	}
	if _, ok := ns.order[path]; !ok {
		ns.order[path] = len(ns.order)
	}
}

// skip records that the directive at p was not translated.
func (ns *notes) skip(p Pos, dir, why string) {
	ns.add(Note{Pos: p, Directive: dir, Kind: NotTranslated, Why: why})
}

// change records that the directive at p was translated with a change.
func (ns *notes) change(p Pos, dir, why string) {
	ns.add(Note{Pos: p, Directive: dir, Kind: Changed, Why: why})
}

// add records n once: a directive shared by several sections (an HAProxy
// defaults line, a default-server) is noted once.
func (ns *notes) add(n Note) {
	if ns.seen == nil {
		ns.seen = map[Note]bool{}
	}
	if !ns.seen[n] {
		ns.seen[n] = true
		ns.list = append(ns.list, n)
	}
}

// sorted returns the notes in reading order, those of one line in the
// order they were made.
func (ns *notes) sorted() []Note {
	out := append([]Note(nil), ns.list...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if oa, ob := ns.order[a.File], ns.order[b.File]; oa != ob {
			return oa < ob
		}
		return a.Line < b.Line
	})
	return out
}
