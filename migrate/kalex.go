package migrate

import (
	"bytes"
	"path/filepath"
	"strings"
)

// kaNode is one statement of a keepalived configuration: its first word,
// the words after it and, when a block followed it, the statements of the
// block. Translation marks each node it consumes (or reports) as done;
// the nodes left undone are reported at the end, so that every statement
// of the file is accounted for.
type kaNode struct {
	pos      Pos
	key      string
	args     []string
	children []*kaNode
	block    bool
	done     bool
}

// Limits of the keepalived reader, far above what real files use; they
// bound the work a hostile or broken file can cause.
const (
	maxIncludeDepth = 8
	maxIncludes     = 256
	maxBlockDepth   = 32
	maxStatements   = 200000
)

// kaReader reads a keepalived.conf and the files it includes into one
// tree, the way keepalived's own parser reads them (lib/parser.c): line by
// line, with '!' and '#' comments, "double quoted" words, '{' and '}'
// splitting lines, and include lines replaced by the files their glob
// matches (relative to the including file's directory).
type kaReader struct {
	files Files
	notes *notes
	root  *kaNode
	// stack holds the open blocks, stack[0] the root.
	stack []*kaNode
	// last is the statement a '{' on a line of its own opens.
	last  *kaNode
	chain []string // the files being read, outermost first
	count int      // statements read
	reads int      // files read
}

// readKeepalived reads the file at path and every file it includes.
func readKeepalived(path string, files Files, ns *notes) (*kaNode, error) {
	r := &kaReader{files: files, notes: ns, root: &kaNode{pos: Pos{File: path}, block: true}}
	r.stack = []*kaNode{r.root}
	if err := r.file(path, Pos{}); err != nil {
		return nil, err
	}
	if len(r.stack) > 1 {
		open := r.stack[len(r.stack)-1]
		return nil, errAt(open.pos, "%s: block opened here is not closed", open.key)
	}
	return r.root, nil
}

// file reads one file; from is the include line that names it (the zero
// Pos for the main file).
func (r *kaReader) file(path string, from Pos) error {
	clean := filepath.Clean(path)
	for _, f := range r.chain {
		if f == clean {
			return errAt(from, "include %s: includes itself (through %s)", path, strings.Join(r.chain, " -> "))
		}
	}
	if len(r.chain) >= maxIncludeDepth {
		return errAt(from, "include %s: more than %d levels of include", path, maxIncludeDepth)
	}
	if r.reads++; r.reads > maxIncludes {
		return errAt(from, "include %s: more than %d files included", path, maxIncludes)
	}
	data, err := r.files.ReadFile(path)
	if err != nil {
		if from.File == "" {
			return err
		}
		return errAt(from, "include: %v", err)
	}
	r.notes.file(path)
	r.chain = append(r.chain, clean)
	defer func() { r.chain = r.chain[:len(r.chain)-1] }()

	lines := bytes.Split(data, []byte("\n"))
	for i := 0; i < len(lines); i++ {
		pos := Pos{File: path, Line: i + 1}
		line, cont, err := kaDecomment(strings.TrimRight(string(lines[i]), "\r"))
		if err != nil {
			return errAt(pos, "%v", err)
		}
		// keepalived continues only a parameter definition ($NAME=...)
		// on the next line; any other line ending in '\' keeps the '\'
		// on its last word and ends there.
		if cont && !strings.HasPrefix(line, "$") {
			line += "\\"
			cont = false
		}
		for cont && i+1 < len(lines) {
			i++
			var next string
			next, cont, err = kaDecomment(strings.TrimRight(string(lines[i]), "\r"))
			if err != nil {
				return errAt(Pos{File: path, Line: i + 1}, "%v", err)
			}
			line += " " + next
		}
		if err := r.line(pos, line); err != nil {
			return err
		}
	}
	return nil
}

// kaIncludes are keepalived's include keywords: include, and the variants
// that only change how keepalived reports a missing file.
var kaIncludes = map[string]bool{"include": true, "includer": true, "includem": true, "includew": true, "includeb": true, "includea": true}

// line handles one logical line (comments and continuations removed).
func (r *kaReader) line(pos Pos, line string) error {
	toks, err := kaTokens(line)
	if err != nil {
		return errAt(pos, "%v", err)
	}
	if len(toks) == 0 {
		return nil
	}
	// keepalived takes a line for an include when the keyword is
	// followed by a blank: "include{" is not one.
	if t := toks[0]; t.kind == tokWord && !t.quoted && kaIncludes[t.text] &&
		(len(line) == len(t.text) || line[len(t.text)] == ' ' || line[len(t.text)] == '\t') {
		return r.include(pos, t.text, line)
	}
	var words []string
	flush := func() error {
		if len(words) == 0 {
			return nil
		}
		if r.count++; r.count > maxStatements {
			return errAt(pos, "more than %d statements: not a keepalived configuration", maxStatements)
		}
		n := &kaNode{pos: pos, key: words[0], args: words[1:]}
		top := r.stack[len(r.stack)-1]
		top.children = append(top.children, n)
		r.last = n
		words = nil
		return nil
	}
	for _, t := range toks {
		switch t.kind {
		case tokWord:
			words = append(words, t.text)
		case tokOpen:
			opened := len(words) > 0
			if err := flush(); err != nil {
				return err
			}
			if !opened && (r.last == nil || r.last.block) {
				return errAt(pos, "'{' without a keyword before it")
			}
			if len(r.stack) > maxBlockDepth {
				return errAt(pos, "blocks nested more than %d deep", maxBlockDepth)
			}
			r.last.block = true
			r.stack = append(r.stack, r.last)
			r.last = nil
		case tokClose:
			if err := flush(); err != nil {
				return err
			}
			if len(r.stack) == 1 {
				return errAt(pos, "'}' without a block to close")
			}
			r.stack = r.stack[:len(r.stack)-1]
			r.last = nil
		}
	}
	return flush()
}

// include reads the files an include line names, in place of the line.
// As keepalived does, the pattern is the whole rest of the line (line is
// decommented): quotes and blanks are part of it.
func (r *kaReader) include(pos Pos, key, line string) error {
	n := &kaNode{pos: pos, key: key, done: true}
	rest := strings.TrimLeft(strings.TrimPrefix(line, key), " \t")
	if rest == "" {
		return errAt(pos, "%s: needs a file name or pattern", n.key)
	}
	pattern := rest
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(pos.File), pattern)
	}
	matches, err := r.files.Glob(pattern)
	if err != nil {
		return errAt(pos, "%s %s: %v", n.key, rest, err)
	}
	if len(matches) == 0 {
		why := "matches no file (" + pattern + "): nothing to translate"
		if strings.ContainsAny(rest, "\" \t") {
			why += "; keepalived takes the quotes and blanks in it as part of the file name"
		}
		r.notes.skip(pos, directive(n.key, rest), why)
		return nil
	}
	for _, m := range matches {
		if why := r.unreadable(m); why != "" {
			r.notes.skip(pos, directive(n.key, rest), m+" "+why)
			continue
		}
		if err := r.file(m, pos); err != nil {
			return err
		}
	}
	return nil
}

// unreadable tells why keepalived skips a file an include matches (a
// directory, a device, a script: only regular files that are not
// executable are configuration to it), or "" when it reads it.
func (r *kaReader) unreadable(name string) string {
	sf, ok := r.files.(statFiles)
	if !ok {
		return ""
	}
	fi, err := sf.Stat(name)
	switch {
	case err != nil:
		return "cannot be read (" + err.Error() + "): keepalived skips it too"
	case fi.IsDir():
		return "is a directory: keepalived skips it"
	case !fi.Mode().IsRegular():
		return "is not a regular file: keepalived skips it"
	case fi.Mode().Perm()&0o111 != 0:
		return "is executable: keepalived skips it (it reads only regular files that are not executable)"
	}
	return ""
}

// kaDecomment removes a line's comment and leading and trailing blanks as
// keepalived does: '!' and '#' outside double quotes start a comment, "\!"
// and "\#" outside quotes stand for the characters themselves, and cont
// tells whether the line ends in a '\' (in the comment too), which
// keepalived takes as a continuation in a parameter definition only.
func kaDecomment(s string) (line string, cont bool, err error) {
	var b strings.Builder
	quote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\' && i+1 == len(s):
			cont = true
			continue
		case c == '\\':
			if !quote && (s[i+1] == '#' || s[i+1] == '!') {
				i++
				c = s[i]
			} else {
				b.WriteByte(c)
				i++
				c = s[i]
			}
		case !quote && (c == '!' || c == '#'):
			// keepalived still looks for a '\' ending the line in
			// the comment.
			return strings.TrimSpace(b.String()), kaEndsInBackslash(s[i:]), nil
		}
		b.WriteByte(c)
	}
	if quote {
		return "", false, errUnterminatedQuote
	}
	return strings.TrimSpace(b.String()), cont, nil
}

// kaEndsInBackslash reports whether s ends in a '\' that no other
// '\' escapes, as keepalived reads a comment for it.
func kaEndsInBackslash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if i+1 == len(s) {
				return true
			}
			i++
		}
	}
	return false
}

type tokKind uint8

const (
	tokWord tokKind = iota
	tokOpen
	tokClose
)

type kaToken struct {
	kind   tokKind
	text   string
	quoted bool
}

// kaTokens splits a decommented line into words, double-quoted words
// (quotes removed, no escapes: keepalived has none) and braces.
func kaTokens(s string) ([]kaToken, error) {
	var toks []kaToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f':
			i++
		case c == '{':
			toks = append(toks, kaToken{kind: tokOpen, text: "{"})
			i++
		case c == '}':
			toks = append(toks, kaToken{kind: tokClose, text: "}"})
			i++
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, errUnterminatedQuote
			}
			toks = append(toks, kaToken{kind: tokWord, text: s[i+1 : i+1+end], quoted: true})
			i += end + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\v\f{}\"", rune(s[j])) {
				j++
			}
			toks = append(toks, kaToken{kind: tokWord, text: s[i:j]})
			i = j
		}
	}
	return toks, nil
}
