// Command rmqlb is the rmqlb daemon and its command-line client.
//
//	rmqlb run --config FILE             the daemon, in the foreground, logs to stderr
//	rmqlb check-config --config FILE    validate a file: exit 0, or 1 with one line per problem
//	rmqlb status [--socket PATH | --config FILE] [--json] [--verbose] [--watch [INTERVAL]]
//	rmqlb backend [--socket PATH | --config FILE] LISTENER/BACKEND drain|maint|ready
//	rmqlb backend [--socket PATH | --config FILE] LISTENER/BACKEND weight N|reset
//	rmqlb backend [--socket PATH | --config FILE] LISTENER/BACKEND shutdown-sessions
//	rmqlb reload [--socket PATH | --config FILE]
//	rmqlb vrrp release [--socket PATH | --config FILE] NAME [--for DURATION]
//	rmqlb vrrp ready [--socket PATH | --config FILE] NAME
//	rmqlb import --keepalived FILE [--haproxy FILE] [--ipvsadm FILE]
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
  rmqlb status [--json] [--verbose] [--watch [INTERVAL]]
                                       show the running daemon's state; exit 0 healthy,
                                       1 degraded, 2 daemon unreachable or usage error
  rmqlb backend LISTENER/BACKEND drain|maint|ready
                                       set a backend's operator state
  rmqlb backend LISTENER/BACKEND weight N|reset
                                       override a backend's weight, or drop the override
  rmqlb backend LISTENER/BACKEND shutdown-sessions
                                       close a backend's sessions now
  rmqlb reload                         reload the daemon's configuration file
  rmqlb vrrp release NAME [--for DURATION]
                                       hand the VIPs over for planned maintenance
  rmqlb vrrp ready NAME                end the release: eligible as master again
  rmqlb import --keepalived FILE [--haproxy FILE] [--ipvsadm FILE]
                                       translate keepalived, LVS and HAProxy files
                                       into an rmqlb configuration file (stdout)
  rmqlb version                        print the version

  status, backend and reload ask the daemon at --socket PATH (default
  /run/rmqlb/rmqlb.sock), or at the control_socket of --config FILE.
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
	case "import":
		return cmdImport(args[1:], stdout, stderr)
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
