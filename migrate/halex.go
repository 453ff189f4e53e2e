package migrate

import (
	"bytes"
	"strings"
)

// haLine is one line of an haproxy.cfg, split into words. Translation
// marks the lines it consumes (or reports) as done; the lines left undone
// are reported at the end.
type haLine struct {
	pos   Pos
	words []string
	done  bool
}

// haSection is a section of an haproxy.cfg: its header (kind, name and
// the rest of the header line) and its lines.
type haSection struct {
	header *haLine
	kind   string
	name   string
	lines  []*haLine
	// parent is the defaults section a defaults section is "from".
	parent *haSection
}

// haConfig is an haproxy.cfg read into sections. Lines before the first
// section are in orphans.
type haConfig struct {
	sections []*haSection
	orphans  []*haLine
}

// haSectionKinds are the keywords that start a section.
var haSectionKinds = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"userlist": true, "peers": true, "resolvers": true, "mailers": true, "program": true,
	"http-errors": true, "ring": true, "cache": true, "log-forward": true, "fcgi-app": true,
	"crt-store": true, "traces": true, "acme": true,
}

// maxHALines bounds the lines of an haproxy.cfg read.
const maxHALines = 200000

// readHAProxy reads an haproxy.cfg the way HAProxy does
// (src/cfgparse.c): line by line, '#' comments, '\' escapes, "double" and
// 'single' quotes, sections started by their keyword. The lines of a
// conditional block (.if ... .endif) are reported, not read: rmqlb import
// does not evaluate the conditions.
func readHAProxy(path string, files Files, ns *notes) (*haConfig, error) {
	data, err := files.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ns.file(path)
	cfg := &haConfig{}
	var cur *haSection
	var conds []Pos // the open .if blocks
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > maxHALines {
		return nil, errAt(Pos{File: path, Line: maxHALines + 1}, "more than %d lines: not an HAProxy configuration", maxHALines)
	}
	for i, raw := range lines {
		pos := Pos{File: path, Line: i + 1}
		words, err := splitWords(string(raw))
		if err != nil {
			return nil, errAt(pos, "%v", err)
		}
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case ".if":
			conds = append(conds, pos)
			ns.skip(pos, directive(words...), "a conditional block: rmqlb import does not evaluate the condition; translate its lines by hand")
			continue
		case ".elif", ".else":
			if len(conds) == 0 {
				return nil, errAt(pos, "%s without .if", words[0])
			}
			continue
		case ".endif":
			if len(conds) == 0 {
				return nil, errAt(pos, ".endif without .if")
			}
			conds = conds[:len(conds)-1]
			continue
		}
		if len(conds) > 0 {
			ns.skip(pos, directive(words...), "inside the conditional block of line "+itoa(conds[len(conds)-1].Line)+": not translated")
			continue
		}
		l := &haLine{pos: pos, words: words}
		if haSectionKinds[words[0]] {
			cur = &haSection{header: l, kind: words[0]}
			if len(words) > 1 {
				cur.name = words[1]
			}
			cfg.sections = append(cfg.sections, cur)
			continue
		}
		if cur == nil {
			cfg.orphans = append(cfg.orphans, l)
			continue
		}
		cur.lines = append(cur.lines, l)
	}
	if len(conds) > 0 {
		return nil, errAt(conds[len(conds)-1], ".if without .endif")
	}
	return cfg, nil
}

// splitWords splits a line into words as HAProxy (and a shell) does:
// blanks separate words, '#' starts a comment, '\' escapes the next
// character (also in double quotes), double quotes group words (HAProxy
// would expand "$VARIABLES" in them; rmqlb import keeps them as written)
// and single quotes group words verbatim.
func splitWords(s string) ([]string, error) {
	var words []string
	var b strings.Builder
	in := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'' && c == '\'':
			quote = 0
		case quote == '\'':
			b.WriteByte(c)
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
			in = true
		case quote == '"' && c == '"':
			quote = 0
		case quote == '"':
			b.WriteByte(c)
		case c == '"' || c == '\'':
			quote, in = c, true
		case c == '#':
			i = len(s)
		case c == ' ' || c == '\t' || c == '\r':
			if in {
				words = append(words, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, errUnterminatedQuote
	}
	if in {
		words = append(words, b.String())
	}
	return words, nil
}
