// Package clidoc writes the documentation of a command-line program from
// one description of it (Program): the help a user reads on the terminal
// (rmqlb help, rmqlb COMMAND -h), the manual page in roff (man(7) macros)
// and the bash and zsh completion scripts. The program describes its
// commands once, with their flags taken from the flag sets the commands
// parse, so the four never disagree with each other or with the program.
//
// The package only formats text: it runs nothing, and its functions write
// to the io.Writer they are given. It is safe for concurrent use; a
// Program is not modified.
package clidoc
