package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/daemon"
)

// defineReload is rmqlb reload: it asks the daemon to reload its
// configuration file and prints what was applied, refused and left for a
// restart; exit 1 when the file or a change was refused.
func defineReload(fs *flag.FlagSet) runFunc {
	socketOf := clientFlags(fs)
	return func(args []string, stdout, stderr io.Writer) int {
		if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
			return code
		}
		return cmdReload(socketOf, stdout, stderr)
	}
}

// cmdReload asks the daemon at the socket socketOf returns to reload.
func cmdReload(socketOf func() (string, error), stdout, stderr io.Writer) int {
	socket, err := socketOf()
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb reload: %v\n", err)
		return 2
	}
	var r control.Reload
	if err := control.Call(socket, control.Request{Command: "reload"}, &r, daemon.ReloadCommandTimeout+5*time.Second); err != nil {
		fmt.Fprintf(stderr, "rmqlb reload: %v%s\n", err, outcomeUnknown(err))
		return 2
	}
	if r.Error != "" {
		fmt.Fprintf(stderr, "rmqlb reload: refused, the daemon runs on unchanged:\n%s\n", r.Error)
		return 1
	}
	if len(r.Applied) == 0 && len(r.Refused) == 0 && len(r.Pending) == 0 {
		fmt.Fprintln(stdout, "nothing changed")
	}
	for _, a := range r.Applied {
		fmt.Fprintf(stdout, "applied: %s\n", a)
	}
	for _, p := range r.Pending {
		fmt.Fprintf(stdout, "needs restart: %s\n", p)
	}
	for _, f := range r.Refused {
		fmt.Fprintf(stderr, "refused: %s\n", f)
	}
	if !r.OK() {
		return 1
	}
	return 0
}

// outcomeUnknown is what to add to the error of a request that reached the
// daemon but got no answer: the daemon may have acted on it.
func outcomeUnknown(err error) string {
	var refused *control.RefusedError
	if err == nil || errors.Is(err, control.ErrNotSent) || errors.As(err, &refused) {
		return ""
	}
	return " (the request reached the daemon, which may have acted on it: see rmqlb status)"
}
