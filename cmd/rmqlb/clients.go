package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/rmqlb/rmqlb/control"
)

// defineClients is rmqlb clients.
func defineClients(fs *flag.FlagSet) runFunc {
	socketOf := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print the daemon's answer as it came: one JSON object")
	limit := fs.Int("limit", control.DefaultClientsLimit, fmt.Sprintf("list at most `N` client addresses per listener (1..%d); they are counted whatever their number", control.MaxClientsLimit))
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagExit(err)
		}
		bad := func(format string, a ...any) int {
			return usageError(fs, stderr, fmt.Sprintf(format, a...))
		}
		r := control.ClientsRequest{Limit: *limit}
		switch {
		case len(pos) > 1:
			return bad("unexpected argument %q", pos[1])
		case len(pos) == 1 && (pos[0] == "" || strings.Contains(pos[0], "/")):
			return bad("%q is not a LISTENER", pos[0])
		case len(pos) == 1:
			r.Listener = pos[0]
		}
		if *limit < 1 || *limit > control.MaxClientsLimit {
			return bad("--limit must be 1..%d, not %d", control.MaxClientsLimit, *limit)
		}
		socket, err := socketOf()
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb clients: %v\n", err)
			return control.ExitUnreachable
		}
		return listAndPrint(socket, control.Request{Command: "clients", Args: r.Args()}, *asJSON, stdout, stderr,
			func(w io.Writer, c control.Clients) error { return control.FormatClients(w, c, r.Limit) })
	}
}
