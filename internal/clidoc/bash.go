package clidoc

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteBash writes the program's bash completion script: it completes
// command names, each command's flags, the values of flags that take a
// file (file names) or a choice of words, and the operands that have
// words. It needs bash 4 and nothing of the bash-completion package, which
// loads it from its completions directory. header is written first as
// comments.
func WriteBash(w io.Writer, p *Program, header string) error {
	b := bufio.NewWriter(w)
	writeComment(b, header)
	fn := "_" + shellName(p.Name)
	var names []string
	for _, c := range p.Commands {
		names = append(names, c.Name)
	}
	fmt.Fprintf(b, `%s() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=($(compgen -W %s -- "$cur"))
		return
	fi
	local flags="" argflags="" operand=0 i w
	case ${COMP_WORDS[1]} in
`, fn, shellQuote(strings.Join(names, " ")))
	for _, c := range p.Commands {
		var flags, argflags []string
		for _, f := range c.Flags {
			flags = append(flags, "--"+f.Name)
			if f.takesArg() {
				argflags = append(argflags, "--"+f.Name, "-"+f.Name)
			}
		}
		fmt.Fprintf(b, "\t%s)\n", c.Name)
		fmt.Fprintf(b, "\t\tflags=%s argflags=%s\n", shellQuote(strings.Join(flags, " ")), shellQuote(" "+strings.Join(argflags, " ")+" "))
		// The value of a flag.
		var cases []string
		for _, f := range c.Flags {
			if !f.takesArg() {
				continue
			}
			action := "return"
			switch {
			case f.isPath():
				action = `compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return`
			case f.choices() != nil:
				action = fmt.Sprintf(`COMPREPLY=($(compgen -W %s -- "$cur")); return`, shellQuote(strings.Join(f.choices(), " ")))
			}
			cases = append(cases, fmt.Sprintf("\t\t--%s | -%s) %s ;;\n", f.Name, f.Name, action))
		}
		if len(cases) > 0 {
			b.WriteString("\t\tcase $prev in\n")
			for _, cs := range cases {
				b.WriteString("\t" + cs)
			}
			b.WriteString("\t\tesac\n")
		}
		b.WriteString("\t\t;;\n")
	}
	b.WriteString("\t*) return ;;\n\tesac\n")
	fmt.Fprintf(b, `	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
		return
	fi
	# Which operand the word is: words before it that are neither flags nor
	# flags' values.
	for ((i = 2; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == -* ]]; then
			[[ $argflags == *" $w "* ]] && ((i++))
			continue
		fi
		((operand++))
	done
	case ${COMP_WORDS[1]}:$operand in
`)
	for _, c := range p.Commands {
		for i, o := range c.Operands {
			switch {
			case len(o.Words) > 0:
				fmt.Fprintf(b, "\t%s:%d) COMPREPLY=($(compgen -W %s -- \"$cur\")) ;;\n", c.Name, i, shellQuote(strings.Join(o.Words, " ")))
			case o.isPath():
				fmt.Fprintf(b, "\t%s:%d) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n", c.Name, i)
			}
		}
	}
	fmt.Fprintf(b, "\tesac\n}\ncomplete -F %s %s\n", fn, p.Name)
	return b.Flush()
}

// writeComment writes text as shell comments.
func writeComment(b *bufio.Writer, text string) {
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		b.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
}

// shellName is name made fit for a shell function's name.
func shellName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '.' {
			return '_'
		}
		return r
	}, name)
}

// shellQuote quotes s in single quotes for sh, bash and zsh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
