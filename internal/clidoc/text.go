package clidoc

import (
	"strings"
)

// block is a paragraph of plain text: words to fill, or verbatim lines.
type block struct {
	verbatim bool
	lines    []string // verbatim: as written, less the two spaces; else one element, the words
}

// blocks splits plain text into its paragraphs (see Program).
func blocks(text string) []block {
	var bs []block
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		lines := strings.Split(strings.Trim(para, "\n"), "\n")
		if len(lines) == 0 || strings.TrimSpace(para) == "" {
			continue
		}
		verbatim := true
		for _, l := range lines {
			verbatim = verbatim && strings.HasPrefix(l, "  ")
		}
		if verbatim {
			for i, l := range lines {
				lines[i] = strings.TrimRight(l[2:], " ")
			}
			bs = append(bs, block{verbatim: true, lines: lines})
			continue
		}
		bs = append(bs, block{lines: []string{strings.Join(strings.Fields(para), " ")}})
	}
	return bs
}

// fill breaks words into lines of at most width columns (a longer word
// stands alone), each starting with indent.
func fill(words string, indent string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(words) {
		switch {
		case line == "":
			line = indent + w
		case len(line)+1+len(w) > width:
			lines = append(lines, line)
			line = indent + w
		default:
			line += " " + w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
