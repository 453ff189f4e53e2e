// Command rmqlb is the rmqlb daemon and its command-line client.
//
//	rmqlb run --config FILE             the daemon, in the foreground, logs to stderr
//	rmqlb check-config --config FILE    validate a file: exit 0, or 1 with one line per problem
//	rmqlb status [--socket PATH | --config FILE] [--json] [--verbose] [--watch [INTERVAL]]
//	rmqlb backend [--socket PATH | --config FILE] LISTENER/BACKEND drain|maint|ready
//	rmqlb backend [--socket PATH | --config FILE] LISTENER/BACKEND weight N|reset
//	rmqlb backend [--socket PATH | --config FILE] LISTENER/BACKEND shutdown-sessions
//	rmqlb reload [--socket PATH | --config FILE]
//	rmqlb import --keepalived FILE [--haproxy FILE] [--ipvsadm FILE]
//	rmqlb version
//	rmqlb help [COMMAND]
//
// The commands are one table (commands, in table.go), from which rmqlb
// help, rmqlb COMMAND -h, the manual page rmqlb(8) and the completions are
// written. This file and its siblings only parse flags and wire the
// packages together; the behaviour lives in the packages (the daemon's in
// package daemon).
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// defaultConfig is the configuration file when --config is not given.
const defaultConfig = "/etc/rmqlb/rmqlb.yaml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line to its command (commands) and returns the
// process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeHelp(stderr)
		return 2
	}
	c, ok := lookupCommand(args[0])
	if !ok {
		fmt.Fprintf(stderr, "rmqlb: unknown command %q\n", args[0])
		writeHelp(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

// cmdVersion prints the version (programVersion), alone on its line after
// "rmqlb ", which scripts read.
func cmdVersion(stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "rmqlb %s\n", programVersion())
	return 0
}
