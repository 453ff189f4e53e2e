package clidoc

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// WriteMan writes the program's manual page in roff with the man(7)
// macros: NAME, SYNOPSIS, DESCRIPTION, COMMANDS (each command's forms,
// description and flags), EXIT STATUS, then the program's Sections. The
// page carries no date or version, so that it changes only when its text
// does. header is written first as a roff comment (who wrote the page).
func WriteMan(w io.Writer, p *Program, header string) error {
	b := bufio.NewWriter(w)
	for _, l := range strings.Split(strings.TrimSpace(header), "\n") {
		b.WriteString(`.\" ` + l + "\n")
	}
	name := strings.ToUpper(p.Name)
	fmt.Fprintf(b, ".TH %s %d \"\" \"%s\" \"%s\"\n", name, p.Section, p.Name, manualName(p.Section))
	// No hyphenation and a ragged right margin: the page holds command
	// lines and paths, which must not be split or stretched.
	b.WriteString(".nh\n.ad l\n")
	b.WriteString(".SH NAME\n")
	b.WriteString(roffLine(p.Name+" - "+p.Title) + "\n")

	b.WriteString(".SH SYNOPSIS\n")
	first := true
	for _, c := range p.Commands {
		for _, f := range c.Forms {
			if !first {
				b.WriteString(".br\n")
			}
			first = false
			b.WriteString(roffSynopsis(p.Name+" "+c.Name+" "+f) + "\n")
		}
	}

	b.WriteString(".SH DESCRIPTION\n")
	writeRoffText(b, p.Intro)

	b.WriteString(".SH COMMANDS\n")
	for _, c := range p.Commands {
		fmt.Fprintf(b, ".SS %s\n", roffLine(p.Name+" "+c.Name))
		for i, f := range c.Forms {
			if i > 0 {
				b.WriteString(".br\n")
			}
			b.WriteString(roffSynopsis(p.Name+" "+c.Name+" "+f) + "\n")
		}
		b.WriteString(".PP\n")
		writeRoffText(b, c.Doc)
		for _, f := range c.Flags {
			b.WriteString(".TP\n")
			syn := `\fB\-\-` + roffEscape(f.Name) + `\fR`
			if f.Arg != "" {
				syn += " " + roffSynopsis(f.Arg)
			}
			b.WriteString(syn + "\n")
			b.WriteString(roffLine(f.usageLine()) + "\n")
		}
	}

	b.WriteString(".SH EXIT STATUS\n")
	for _, c := range p.Commands {
		if len(c.Exits) == 0 {
			continue
		}
		fmt.Fprintf(b, ".SS %s\n", roffLine(p.Name+" "+c.Name))
		for _, e := range c.Exits {
			fmt.Fprintf(b, ".TP\n.B %d\n%s\n", e.Code, roffLine(e.Meaning))
		}
	}

	for _, s := range p.Sections {
		fmt.Fprintf(b, ".SH %s\n", roffLine(strings.ToUpper(s.Title)))
		writeRoffText(b, s.Body)
		for _, it := range s.Items {
			b.WriteString(".TP\n")
			b.WriteString(`\fB` + roffEscape(it.Term) + `\fR` + "\n")
			for i, bl := range blocks(it.Text) {
				if i > 0 {
					b.WriteString(".IP\n")
				}
				writeRoffBlock(b, bl)
			}
		}
	}
	return b.Flush()
}

// manualName is the title of a manual section, as man-pages(7) has it.
func manualName(section int) string {
	switch section {
	case 1:
		return "User Commands"
	case 5:
		return "File Formats"
	case 8:
		return "System Administration"
	}
	return ""
}

// writeRoffText writes plain text as roff paragraphs.
func writeRoffText(b *bufio.Writer, text string) {
	for i, bl := range blocks(text) {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		writeRoffBlock(b, bl)
	}
}

// writeRoffBlock writes one paragraph: filled text, or verbatim lines
// indented in no-fill mode.
func writeRoffBlock(b *bufio.Writer, bl block) {
	if !bl.verbatim {
		b.WriteString(roffLine(bl.lines[0]) + "\n")
		return
	}
	b.WriteString(".RS 2\n.nf\n")
	for _, l := range bl.lines {
		b.WriteString(roffLine(l) + "\n")
	}
	b.WriteString(".fi\n.RE\n")
}

// roffEscape escapes text for roff: backslashes, and hyphens as \- so
// that options and paths render (and can be copied) as ASCII hyphens.
func roffEscape(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// roffLine escapes a line of text, guarding a leading control character.
func roffLine(s string) string {
	s = roffEscape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffSynopsis writes a command line: placeholders (words of capitals) in
// italics, literal words and flags in bold, brackets and bars plain.
func roffSynopsis(s string) string {
	var out strings.Builder
	word := func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_/.", r)
	}
	rs := []rune(s)
	for i := 0; i < len(rs); {
		if !word(rs[i]) {
			out.WriteString(roffEscape(string(rs[i])))
			i++
			continue
		}
		j := i
		for j < len(rs) && word(rs[j]) {
			j++
		}
		w := string(rs[i:j])
		font := `\fB`
		if isPlaceholder(w) {
			font = `\fI`
		}
		out.WriteString(font + roffEscape(w) + `\fR`)
		i = j
	}
	r := out.String()
	if strings.HasPrefix(r, "'") {
		r = `\&` + r
	}
	return r
}

// isPlaceholder reports whether a word of a synopsis stands for a value:
// capitals, digits and separators, with at least one capital.
func isPlaceholder(w string) bool {
	upper := false
	for _, r := range w {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			return false
		}
	}
	return upper
}
