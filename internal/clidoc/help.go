package clidoc

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// helpWidth is the width the terminal help is filled to.
const helpWidth = 80

// WriteHelp writes the program's help: its synopsis, its intro, each
// command's forms with its summary, and the footer.
func WriteHelp(w io.Writer, p *Program) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "usage: %s COMMAND [FLAGS] [ARGUMENTS]\n\n", p.Name)
	writeText(b, p.Intro, "")
	b.WriteString("\ncommands:\n")
	for _, c := range p.Commands {
		for _, f := range c.Forms {
			b.WriteString(strings.TrimRight("  "+p.Name+" "+c.Name+" "+f, " ") + "\n")
		}
		for _, l := range fill(c.Summary, "      ", helpWidth) {
			b.WriteString(l + "\n")
		}
	}
	if p.HelpFooter != "" {
		b.WriteByte('\n')
		writeText(b, p.HelpFooter, "")
	}
	return b.Flush()
}

// WriteCommandHelp writes a command's help: its forms, its description,
// its flags and its exit statuses.
func WriteCommandHelp(w io.Writer, p *Program, c *Command) error {
	b := bufio.NewWriter(w)
	for i, f := range c.Forms {
		lead := "usage: "
		if i > 0 {
			lead = "       "
		}
		b.WriteString(strings.TrimRight(lead+p.Name+" "+c.Name+" "+f, " ") + "\n")
	}
	b.WriteByte('\n')
	writeText(b, c.Doc, "")
	if len(c.Flags) > 0 {
		b.WriteString("\nflags:\n")
		for _, f := range c.Flags {
			b.WriteString("  " + f.synopsis() + "\n")
			for _, l := range fill(f.usageLine(), "        ", helpWidth) {
				b.WriteString(l + "\n")
			}
		}
	}
	if len(c.Exits) > 0 {
		b.WriteString("\nexit status:\n")
		for _, e := range c.Exits {
			for i, l := range fill(e.Meaning, "       ", helpWidth) {
				if i == 0 {
					l = fmt.Sprintf("  %-4d %s", e.Code, strings.TrimLeft(l, " "))
				}
				b.WriteString(l + "\n")
			}
		}
	}
	return b.Flush()
}

// writeText writes plain text filled to helpWidth, each line starting
// with indent, paragraphs separated by a blank line.
func writeText(b *bufio.Writer, text, indent string) {
	for i, bl := range blocks(text) {
		if i > 0 {
			b.WriteByte('\n')
		}
		if bl.verbatim {
			for _, l := range bl.lines {
				b.WriteString(strings.TrimRight(indent+"  "+l, " ") + "\n")
			}
			continue
		}
		for _, l := range fill(bl.lines[0], indent, helpWidth) {
			b.WriteString(l + "\n")
		}
	}
}
