// Command rmqlb is the rmqlb daemon and its command-line client.
//
//	rmqlb run --config FILE             the daemon, in the foreground, logs to stderr
//	rmqlb check-config --config FILE    validate a file: exit 0, or 1 with one line per problem
//	rmqlb status [--socket PATH] [--json]
//	rmqlb backend [--socket PATH] LISTENER/BACKEND drain|maint|ready
//	rmqlb reload [--socket PATH]
//	rmqlb vrrp release [--socket PATH] NAME [--for DURATION]
//	rmqlb vrrp ready [--socket PATH] NAME
//	rmqlb version
//
// This file and its siblings only parse flags and wire the packages
// together; the behaviour lives in the packages (the daemon's in package
// daemon).
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

const usage = `usage:
  rmqlb run --config FILE              run the daemon in the foreground
  rmqlb check-config --config FILE     validate a configuration file
  rmqlb status [--socket PATH] [--json] show the running daemon's state
  rmqlb backend [--socket PATH] LISTENER/BACKEND drain|maint|ready
                                       set a backend's operator state
  rmqlb reload [--socket PATH]         reload the daemon's configuration file
  rmqlb vrrp release [--socket PATH] NAME [--for DURATION]
                                       hand the VIPs over for planned maintenance
  rmqlb vrrp ready [--socket PATH] NAME
                                       end the release: eligible as master again
  rmqlb version                        print the version
`

// run dispatches a command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "backend":
		return cmdBackend(args[1:], stdout, stderr)
	case "reload":
		return cmdReload(args[1:], stdout, stderr)
	case "vrrp":
		return cmdVRRP(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "rmqlb %s\n", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "rmqlb: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
