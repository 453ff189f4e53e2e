package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
)

// defineBackend is rmqlb backend.
func defineBackend(fs *flag.FlagSet) runFunc {
	socketOf := clientFlags(fs)
	paced := definePacedFlags(fs, "with move-sessions: ", "the move")
	return func(args []string, stdout, stderr io.Writer) int {
		// Flags may follow the operands: LISTENER/BACKEND drain --socket
		// PATH, LISTENER/BACKEND move-sessions --rate 20.
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagExit(err)
		}
		n, op := len(pos), ""
		if n >= 2 {
			op = pos[1]
		}
		_, adminErr := backend.ParseAdmin(op) // as the daemon reads it
		known := op != "" && adminErr == nil || op == "weight" || op == "shutdown-sessions" || op == "move-sessions"
		var wrong string
		switch {
		case n < 2:
			wrong = "name LISTENER/BACKEND and an operation"
		case !known:
			wrong = fmt.Sprintf("unknown operation %q (drain, maint, ready, weight N|reset, shutdown-sessions, move-sessions)", op)
		case op == "weight" && n != 3:
			wrong = "weight wants N (0..65535) or reset"
		case op != "weight" && n > 2, n > 3:
			wrong = fmt.Sprintf("unexpected argument %q", pos[n-1])
		}
		if wrong != "" {
			return usageError(fs, stderr, wrong)
		}
		if (flagSet(fs, "rate") || flagSet(fs, "wait")) && op != "move-sessions" {
			return usageError(fs, stderr, "--rate and --wait belong to move-sessions")
		}
		if op == "move-sessions" {
			if !paced.rateOK("rmqlb backend", stderr) {
				return 2
			}
			return cmdMoveSessions(socketOf, pos[0], *paced.rate, *paced.wait, stdout, stderr)
		}
		return cmdBackend(socketOf, pos, stdout, stderr)
	}
}

// cmdBackend runs an operator's command (args: LISTENER/BACKEND and the
// operation) on one backend: its operator state, its weight, or closing
// its sessions. Exit 0 when done, 1 when the daemon refused or could not
// be asked, 2 for a wrong command line.
func cmdBackend(socketOf func() (string, error), args []string, stdout, stderr io.Writer) int {
	op := args[1]
	socket, err := socketOf()
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb backend: %v\n", err)
		return 2
	}
	call := func(out any) bool {
		err := control.Call(socket, control.Request{Command: "backend", Args: args}, out, 10*time.Second)
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb backend: %v%s\n", err, outcomeUnknown(err))
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
		warnStateFile(stderr, "rmqlb backend", r.StateFileNote)
	case "shutdown-sessions":
		var r control.SessionsClosed
		if !call(&r) {
			return 1
		}
		fmt.Fprintf(stdout, "%s: %s closed\n", r.Backend, control.SessionCount(r.Sessions))
	default:
		var r control.BackendAdmin
		if !call(&r) {
			return 1
		}
		fmt.Fprintf(stdout, "%s: %s\n", args[0], op)
		warnStateFile(stderr, "rmqlb backend", r.StateFileNote)
	}
	return 0
}

// warnStateFile tells the operator, on stderr, that the change the daemon
// applied could not be written to its state file (note, from the answer;
// "" when it was): it lasts until the daemon stops. The exit status stays
// 0: the change is made.
func warnStateFile(stderr io.Writer, cmd, note string) {
	if note != "" {
		fmt.Fprintf(stderr, "%s: warning: %s\n", cmd, note)
	}
}
