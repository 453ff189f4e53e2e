package clidoc

import (
	"flag"
	"sort"
	"strings"
)

// Program describes a command-line program made of commands ("prog
// COMMAND [FLAGS] [OPERANDS]").
//
// Text fields (Intro, Command.Doc, Section.Body, Item.Text) are plain
// text: paragraphs separated by blank lines, each filled to the width of
// its output; a paragraph whose lines all start with two spaces is shown
// as written (an example, a table).
type Program struct {
	// Name is the program's name, as typed.
	Name string
	// Section is its manual section (1 for user commands, 8 for system
	// administration).
	Section int
	// Title is a one-line description: the manual's NAME line.
	Title string
	// Intro is the manual's DESCRIPTION, and the help's opening.
	Intro string
	// Commands are the program's commands, in the order documented.
	Commands []Command
	// HelpFooter ends the program's help (how to get more).
	HelpFooter string
	// Sections are the manual's sections after COMMANDS and EXIT STATUS
	// (FILES, SIGNALS, SEE ALSO, ...), in order.
	Sections []Section
}

// Command is one command of a Program.
type Command struct {
	// Name is the command's name, the word after the program's.
	Name string
	// Forms are the command's synopses, the words after "prog NAME", one
	// per form of the command line (flags included, e.g. "[--json]").
	// Words of capitals are placeholders.
	Forms []string
	// Summary is one line for the program's help.
	Summary string
	// Doc describes the command (plain text, see Program).
	Doc string
	// Flags are the command's flags, in the order documented.
	Flags []Flag
	// Operands are the command's arguments after its flags, by position:
	// what completion offers for each.
	Operands []Operand
	// Exits are the command's exit statuses; none: 0 on success, else
	// not documented.
	Exits []Exit
}

// Flag is a command's flag, written --Name on the command line.
type Flag struct {
	Name string
	// Arg names the flag's value: "" for a boolean flag, a placeholder
	// (FILE, PATH, N), words separated by "|" for a choice of words
	// (console|json), or one of those in brackets for an optional value
	// given as --name=VALUE or as the next word.
	Arg string
	// Usage says what the flag does.
	Usage string
	// Default is the value when the flag is not given; "" for none worth
	// saying (an empty string, false, 0).
	Default string
}

// Operand is an argument of a command after its flags.
type Operand struct {
	// Name is its placeholder in the command's forms.
	Name string
	// Words are its values, offered by completion; none: any value, or
	// a file's name when Name is FILE, PATH or DIR.
	Words []string
}

// Exit is an exit status of a command.
type Exit struct {
	Code    int
	Meaning string
}

// Section is a manual section of its own: a body, then a list of items.
type Section struct {
	Title string
	Body  string
	Items []Item
}

// Item is an entry of a Section's list: a term (a file, a signal) and
// what it means.
type Item struct {
	Term, Text string
}

// Command returns the program's command of that name.
func (p *Program) Command(name string) (*Command, bool) {
	for i := range p.Commands {
		if p.Commands[i].Name == name {
			return &p.Commands[i], true
		}
	}
	return nil, false
}

// FlagsOf returns the flags defined on fs, sorted by name, as Flags. A
// flag's placeholder is the back-quoted word of its usage (as
// flag.PrintDefaults shows it), or none for a boolean flag; a boolean
// flag whose usage names a placeholder takes an optional value ("[WORD]").
// Its default is shown unless it is the zero value of its type.
func FlagsOf(fs *flag.FlagSet) []Flag {
	var fl []Flag
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		isBool := false
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			isBool = true
		}
		switch {
		case isBool && strings.Contains(f.Usage, "`"):
			arg = "[" + arg + "]"
		case isBool:
			arg = ""
		case !strings.Contains(f.Usage, "`"):
			// flag.UnquoteUsage names the type ("string", "duration"):
			// a placeholder in capitals reads better.
			arg = strings.ToUpper(arg)
		}
		def := f.DefValue
		switch def {
		case "", "false", "0", "0s":
			def = ""
		}
		fl = append(fl, Flag{Name: f.Name, Arg: arg, Usage: usage, Default: def})
	})
	sort.Slice(fl, func(i, j int) bool { return fl[i].Name < fl[j].Name })
	return fl
}

// choices returns the words of a flag's choice ("console|json"), or nil.
func (f Flag) choices() []string {
	a := strings.Trim(f.Arg, "[]")
	if !strings.Contains(a, "|") {
		return nil
	}
	return strings.Split(a, "|")
}

// optional reports whether the flag's value is optional.
func (f Flag) optional() bool { return strings.HasPrefix(f.Arg, "[") }

// takesArg reports whether the flag takes the next word as its value.
func (f Flag) takesArg() bool { return f.Arg != "" && !f.optional() }

// isPath reports whether the flag's value is a file's path.
func (f Flag) isPath() bool { return isPath(strings.Trim(f.Arg, "[]")) }

// isPath reports whether the operand names a file (FILE, PATH, DIR), which
// completion offers as it does a flag's.
func (o Operand) isPath() bool { return isPath(o.Name) }

// isPath reports whether the placeholder names a file.
func isPath(placeholder string) bool {
	switch placeholder {
	case "FILE", "PATH", "DIR":
		return true
	}
	return false
}

// synopsis is the flag as written in a list: "--name ARG".
func (f Flag) synopsis() string {
	if f.Arg == "" {
		return "--" + f.Name
	}
	return "--" + f.Name + " " + f.Arg
}

// usageLine is the flag's usage with its default.
func (f Flag) usageLine() string {
	if f.Default == "" {
		return f.Usage
	}
	return f.Usage + " (default " + f.Default + ")"
}
