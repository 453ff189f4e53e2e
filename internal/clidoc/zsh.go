package clidoc

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteZsh writes the program's zsh completion function (a file named
// _NAME in a directory of $fpath, such as Debian's
// /usr/share/zsh/vendor-completions): command names with their summaries,
// each command's flags with their usage, file names or words for the
// flags' values, and the operands. header is written after the #compdef
// line as comments.
func WriteZsh(w io.Writer, p *Program, header string) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "#compdef %s\n", p.Name)
	writeComment(b, header)
	fn := "_" + shellName(p.Name)
	fmt.Fprintf(b, "\n%s() {\n\tlocal -a commands\n\tcommands=(\n", fn)
	for _, c := range p.Commands {
		fmt.Fprintf(b, "\t\t%s\n", shellQuote(c.Name+":"+c.Summary))
	}
	fmt.Fprintf(b, `	)
	if (( CURRENT == 2 )); then
		_describe -t commands %s commands
		return
	fi
	local cmd=${words[2]}
	shift words
	(( CURRENT-- ))
	case $cmd in
`, shellQuote(p.Name+" command"))
	for _, c := range p.Commands {
		var specs []string
		for _, f := range c.Flags {
			spec := "--" + f.Name + "[" + zshEscape(brief(f.Usage)) + "]"
			switch {
			case f.Arg == "":
			case f.optional():
				spec += "::" + zshEscape(strings.Trim(f.Arg, "[]")) + ": "
			case f.isPath():
				spec += ":" + zshEscape(f.Arg) + ":_files"
			case f.choices() != nil:
				spec += ":" + f.Name + ":(" + strings.Join(f.choices(), " ") + ")"
			default:
				spec += ":" + zshEscape(f.Arg) + ": "
			}
			specs = append(specs, spec)
		}
		for i, o := range c.Operands {
			spec := fmt.Sprintf("%d:%s:", i+1, zshEscape(o.Name))
			switch {
			case len(o.Words) > 0:
				spec += "(" + strings.Join(o.Words, " ") + ")"
			case o.isPath():
				spec += "_files"
			default:
				spec += " "
			}
			specs = append(specs, spec)
		}
		fmt.Fprintf(b, "\t(%s)\n", c.Name)
		if len(specs) == 0 {
			b.WriteString("\t\t_message 'no arguments'\n\t\t;;\n")
			continue
		}
		b.WriteString("\t\t_arguments")
		for _, s := range specs {
			b.WriteString(" \\\n\t\t\t" + shellQuote(s))
		}
		b.WriteString("\n\t\t;;\n")
	}
	fmt.Fprintf(b, "\tesac\n}\n\n%s \"$@\"\n", fn)
	return b.Flush()
}

// brief is the first clause of a flag's usage: a completion menu shows
// one short line.
func brief(usage string) string {
	for _, sep := range []string{": ", "; ", ". ", " ("} {
		if i := strings.Index(usage, sep); i > 0 {
			usage = usage[:i]
		}
	}
	return usage
}

// zshEscape escapes the characters _arguments gives a meaning to in an
// explanation or a message.
func zshEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
}
