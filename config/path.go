package config

import (
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// path is a field's location in the file: map keys (string) and sequence
// indexes (int). Its String form is "listeners[0].backends[1].weight".
type path []any

func (p path) k(key string) path { return append(p[:len(p):len(p)], key) }
func (p path) i(idx int) path    { return append(p[:len(p):len(p)], idx) }

func (p path) String() string {
	var b strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e)
		case int:
			fmt.Fprintf(&b, "[%d]", e)
		}
	}
	return b.String()
}

// parsePath is the inverse of path.String. Malformed parts end the path.
func parsePath(s string) path {
	var p path
	for s != "" {
		switch {
		case s[0] == '.':
			s = s[1:]
		case s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return p
			}
			n, err := strconv.Atoi(s[1:end])
			if err != nil {
				return p
			}
			p = append(p, n)
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			p = append(p, s[:end])
			s = s[end:]
		}
	}
	return p
}

// lineIndex finds the line of a field by walking the parsed YAML node tree
// along the field's path. The zero value knows no lines.
type lineIndex struct{ root *yaml.Node }

// line returns the line of the deepest node of p present in the file.
func (x lineIndex) line(p path) int {
	line, _ := x.pos(p)
	return line
}

// pos returns the line and column of the deepest node of p present in
// the file: of its key in a mapping, of its item in a sequence.
func (x lineIndex) pos(p path) (line, col int) {
	n := x.root
	if n == nil {
		return 0, 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line, col = n.Line, n.Column
	for _, e := range p {
		var next *yaml.Node
		switch e := e.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(n.Content); j += 2 {
					if n.Content[j].Value == e {
						next = n.Content[j+1]
						line, col = n.Content[j].Line, n.Content[j].Column
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && e < len(n.Content) {
				next = n.Content[e]
				line, col = next.Line, next.Column
			}
		}
		if next == nil {
			return line, col
		}
		n = next
	}
	return line, col
}

// find returns the path of the deepest mapping entry on line whose key is
// key, or (with key "") whose scalar value is value, and that value in
// full: where the YAML library reports a problem by line and text alone.
// A value the library shortened ("/usr/lo...") matches by its beginning.
// ok is false when no entry matches.
func (x lineIndex) find(line int, key, value string) (p path, full string, ok bool) {
	short, cut := strings.CutSuffix(value, "...")
	matches := func(v string) bool {
		return v == value || (cut && strings.HasPrefix(v, short))
	}
	x.each(func(k, v *yaml.Node, at path) {
		if k != nil && k.Line == line && ((key != "" && k.Value == key) || (key == "" && v.Line == line && matches(v.Value))) {
			p, full, ok = at, v.Value, true
		}
	})
	return p, full, ok
}

// findKind returns the path of the value of kind (a sequence or a
// mapping) that starts on line: the innermost one when several do.
func (x lineIndex) findKind(line int, kind yaml.Kind) (p path, ok bool) {
	x.each(func(_, v *yaml.Node, at path) {
		if v.Line == line && v.Kind == kind {
			p, ok = at, true
		}
	})
	return p, ok
}

// each calls visit with every value of the file and its path, outer
// values before those they hold: a mapping's values with their keys, a
// sequence's elements with a nil key.
func (x lineIndex) each(visit func(key, value *yaml.Node, at path)) {
	var walk func(n *yaml.Node, at path)
	walk = func(n *yaml.Node, at path) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, at)
			}
		case yaml.MappingNode:
			for j := 0; j+1 < len(n.Content); j += 2 {
				k, v := n.Content[j], n.Content[j+1]
				here := at.k(k.Value)
				visit(k, v, here)
				walk(v, here)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				visit(nil, c, at.i(i))
				walk(c, at.i(i))
			}
		}
	}
	if x.root != nil {
		walk(x.root, nil)
	}
}
