package main

import (
	"fmt"
	"io"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// cmdReload asks the daemon to reload its configuration file and prints
// what was applied, refused and left for a restart; exit 1 when the file
// or a change was refused.
func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs, socketOf := clientFlags("reload", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: rmqlb reload [--socket PATH | --config FILE]")
		return 2
	}
	socket, err := socketOf()
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb reload: %v\n", err)
		return 2
	}
	var r control.Reload
	if err := control.Call(socket, control.Request{Command: "reload"}, &r, 30*time.Second); err != nil {
		fmt.Fprintf(stderr, "rmqlb reload: %v\n", err)
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
