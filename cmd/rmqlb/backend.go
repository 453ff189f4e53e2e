package main

import (
	"fmt"
	"io"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

const backendUsage = `usage: rmqlb backend [--socket PATH | --config FILE] LISTENER/BACKEND OPERATION
  drain | maint | ready    set the backend's operator state
  weight N                 use weight N (0..65535) instead of the configured one,
                           until "weight reset" or a reload that changes the backend
  weight reset             use the configured weight again
  shutdown-sessions        close the backend's current sessions now`

// cmdBackend runs an operator's command on one backend: its operator
// state, its weight, or closing its sessions. Exit 0 when done, 1 when the
// daemon refused or could not be asked, 2 for a wrong command line.
func cmdBackend(args []string, stdout, stderr io.Writer) int {
	fs, socketOf := clientFlags("backend", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	n, op := fs.NArg(), fs.Arg(1)
	if n < 2 || n > 3 || (n == 3) != (op == "weight") {
		fmt.Fprintln(stderr, backendUsage)
		return 2
	}
	socket, err := socketOf()
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb backend: %v\n", err)
		return 2
	}
	call := func(out any) bool {
		err := control.Call(socket, control.Request{Command: "backend", Args: fs.Args()}, out, 10*time.Second)
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb backend: %v\n", err)
		}
		return err == nil
	}
	switch op {
	case "weight":
		var r control.BackendWeight
		if !call(&r) {
			return 1
		}
		if r.Override {
			fmt.Fprintf(stdout, "%s: weight %d (operator's; configured %d)\n", r.Backend, r.Weight, r.Configured)
		} else {
			fmt.Fprintf(stdout, "%s: weight %d (configured)\n", r.Backend, r.Weight)
		}
	case "shutdown-sessions":
		var r control.SessionsClosed
		if !call(&r) {
			return 1
		}
		noun := "sessions"
		if r.Sessions == 1 {
			noun = "session"
		}
		fmt.Fprintf(stdout, "%s: %d %s closed\n", r.Backend, r.Sessions, noun)
	default:
		if !call(nil) {
			return 1
		}
		fmt.Fprintf(stdout, "%s: %s\n", fs.Arg(0), op)
	}
	return 0
}
