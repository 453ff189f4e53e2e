package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rmqlb/rmqlb/internal/clidoc"
)

// runFunc runs a command with the words of its command line after its
// name, which it parses with the flag set its flags were defined on.
type runFunc func(args []string, stdout, stderr io.Writer) int

// command is one of rmqlb's commands. rmqlb help, rmqlb COMMAND -h, the
// manual page rmqlb(8) and the bash and zsh completions are all written
// from the table of commands (commands), each command's flags from the
// flag set its define makes, the one the command parses.
type command struct {
	// doc is the command's documentation, less its flags.
	doc clidoc.Command
	// define defines the command's flags on fs, whose Usage prints the
	// command's help, and returns the command to run once defined.
	define func(fs *flag.FlagSet) runFunc
	// internal marks a command the daemon runs itself (its advert sender
	// process): it runs by its name but is in no help, manual page or
	// completion.
	internal bool
}

// lookupCommand returns the command a command line's first word names:
// a command's name, or -h, --help, -v or --version.
func lookupCommand(name string) (command, bool) {
	switch name {
	case "-h", "--help":
		name = "help"
	case "-v", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.doc.Name == name {
			return c, true
		}
	}
	return command{}, false
}

// run runs the command with the words after its name. Its flag set
// writes errors and the command's help to stderr.
func (c command) run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(c.doc.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	run := c.define(fs)
	fs.Usage = func() { clidoc.WriteCommandHelp(fs.Output(), program(), c.withFlags(fs)) }
	return run(args, stdout, stderr)
}

// withFlags returns the command's documentation with the flags of fs.
func (c command) withFlags(fs *flag.FlagSet) *clidoc.Command {
	d := c.doc
	d.Flags = clidoc.FlagsOf(fs)
	return &d
}

// flagExit is the exit code of a command whose flags did not parse: 0
// when help was asked for (-h, printed by the flag set), 2 for a wrong
// command line (the error and the help printed).
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// parseFlagsOnly parses the command line of a command that takes flags
// and no operands. When the command must not run it returns false and the
// exit code (see flagExit).
func parseFlagsOnly(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		return flagExit(err), false
	}
	if fs.NArg() > 0 {
		return usageError(fs, stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0))), false
	}
	return 0, true
}

// usageError says on stderr what is wrong with the command line of fs's
// command ("rmqlb NAME: wrong"), prints the command's usage and returns
// 2, the exit status of a wrong command line.
func usageError(fs *flag.FlagSet, stderr io.Writer, wrong string) int {
	fmt.Fprintf(stderr, "rmqlb %s: %s\n", fs.Name(), wrong)
	fs.Usage()
	return 2
}

// flagSet reports whether the flag name was given on the command line fs
// parsed.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// noFlags defines a command without flags or operands: it checks that
// the command line is empty and runs do.
func noFlags(do func(stdout, stderr io.Writer) int) func(*flag.FlagSet) runFunc {
	return func(fs *flag.FlagSet) runFunc {
		return func(args []string, stdout, stderr io.Writer) int {
			if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
				return code
			}
			return do(stdout, stderr)
		}
	}
}

// program is rmqlb's documentation: the table of commands with their
// flags, and the manual's sections.
func program() *clidoc.Program {
	p := &clidoc.Program{
		Name:       "rmqlb",
		Section:    8,
		Title:      "VRRP virtual addresses and TCP load balancer for RabbitMQ",
		Intro:      introDoc,
		HelpFooter: helpFooter,
		Sections:   manSections,
	}
	for _, c := range commands() {
		if c.internal {
			continue
		}
		fs := flag.NewFlagSet(c.doc.Name, flag.ContinueOnError)
		c.define(fs)
		p.Commands = append(p.Commands, *c.withFlags(fs))
	}
	return p
}

// writeHelp writes rmqlb's help: every command with its summary.
func writeHelp(w io.Writer) {
	clidoc.WriteHelp(w, program())
}

// defineHelp is rmqlb help [COMMAND]: rmqlb's help, or a command's.
func defineHelp(fs *flag.FlagSet) runFunc {
	return func(args []string, stdout, stderr io.Writer) int {
		if err := fs.Parse(args); err != nil {
			return flagExit(err)
		}
		switch fs.NArg() {
		case 0:
			writeHelp(stdout)
			return 0
		case 1:
			c, ok := lookupCommand(fs.Arg(0))
			if !ok {
				fmt.Fprintf(stderr, "rmqlb help: unknown command %q\n", fs.Arg(0))
				writeHelp(stderr)
				return 2
			}
			cfs := flag.NewFlagSet(c.doc.Name, flag.ContinueOnError)
			c.define(cfs)
			clidoc.WriteCommandHelp(stdout, program(), c.withFlags(cfs))
			return 0
		}
		fs.Usage()
		return 2
	}
}
