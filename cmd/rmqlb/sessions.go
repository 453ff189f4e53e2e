package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// sessionsCallTimeout bounds a sessions request: the daemon's own bound
// on its event loops, and time to send a long list.
const sessionsCallTimeout = 30 * time.Second

// defineSessions is rmqlb sessions.
func defineSessions(fs *flag.FlagSet) runFunc {
	socketOf := clientFlags(fs)
	asJSON := fs.Bool("json", false, "print the daemon's answer as it came: one JSON object")
	client := fs.String("client", "", "only the sessions of clients in `ADDRESS`, PREFIX or the one session of ADDRESS:PORT (10.1.2.3, 10.1.0.0/16, 10.1.2.3:53422)")
	notAllowed := fs.Bool("not-allowed", false, "only the sessions of clients their listener's allowed_clients leaves out or denied_clients holds: those a reload that changed the lists kept")
	limit := fs.Int("limit", control.DefaultSessionsLimit, fmt.Sprintf("list at most `N` sessions (1..%d); the total is counted whatever it is", control.MaxSessionsLimit))
	shutdown := fs.Bool("shutdown", false, "close the sessions selected, whatever their number, instead of listing them: a LISTENER, LISTENER/BACKEND, --client or --not-allowed must select them")
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagExit(err)
		}
		var r control.SessionsRequest
		bad := func(format string, a ...any) int {
			return usageError(fs, stderr, fmt.Sprintf(format, a...))
		}
		switch {
		case len(pos) > 1:
			return bad("unexpected argument %q", pos[1])
		case len(pos) == 1:
			l, b, _ := strings.Cut(pos[0], "/")
			if l == "" || strings.Contains(b, "/") || strings.HasSuffix(pos[0], "/") {
				return bad("%q is not LISTENER or LISTENER/BACKEND", pos[0])
			}
			r.Listener, r.Backend = l, b
		}
		if *client != "" {
			if r.Client, r.ClientPort, err = control.ParseClient(*client); err != nil {
				return bad("--client: %v", err)
			}
		}
		r.NotAllowed = *notAllowed
		if *limit < 1 || *limit > control.MaxSessionsLimit {
			return bad("--limit must be 1..%d, not %d", control.MaxSessionsLimit, *limit)
		}
		if *shutdown {
			switch {
			case flagSet(fs, "limit"):
				return bad("--shutdown closes every session selected: --limit does not apply")
			case r.Listener == "" && !r.Client.IsValid() && !r.NotAllowed:
				return bad("--shutdown needs LISTENER, LISTENER/BACKEND, --client or --not-allowed to select the sessions")
			}
		} else {
			r.Limit = *limit
		}
		socket, err := socketOf()
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb sessions: %v\n", err)
			return control.ExitUnreachable
		}
		if *shutdown {
			return shutdownSessions(socket, r, *asJSON, stdout, stderr)
		}
		return listAndPrint(socket, control.Request{Command: "sessions", Args: r.Args()}, *asJSON, stdout, stderr,
			func(w io.Writer, s control.Sessions) error { return control.FormatSessions(w, s, r.Limit) })
	}
}

// listAndPrint asks the daemon at socket for req, a listing that decodes
// as a T, and prints the answer: as it came with asJSON, else by format.
// It returns the command's exit code; its errors are the command's
// (req.Command names it).
func listAndPrint[T any](socket string, req control.Request, asJSON bool, stdout, stderr io.Writer, format func(io.Writer, T) error) int {
	var raw json.RawMessage
	if err := control.Call(socket, req, &raw, sessionsCallTimeout); err != nil {
		fmt.Fprintf(stderr, "rmqlb %s: %v\n", req.Command, err)
		return callExit(err)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		fmt.Fprintf(stderr, "rmqlb %s: decoding the answer: %v\n", req.Command, err)
		return control.ExitUnreachable
	}
	if asJSON {
		writeIndentedJSON(stdout, raw) // raw decoded above: valid JSON
		return 0
	}
	if err := format(stdout, v); err != nil {
		fmt.Fprintf(stderr, "rmqlb %s: %v\n", req.Command, err)
		return control.ExitUnreachable
	}
	return 0
}

// shutdownSessions asks the daemon at socket to close the sessions r
// selects, and prints how many it closed (with asJSON, its answer).
func shutdownSessions(socket string, r control.SessionsRequest, asJSON bool, stdout, stderr io.Writer) int {
	var res control.SessionsShutdown
	if err := control.Call(socket, control.Request{Command: "shutdown-sessions", Args: r.Args()}, &res, sessionsCallTimeout); err != nil {
		fmt.Fprintf(stderr, "rmqlb sessions: %v%s\n", err, outcomeUnknown(err))
		return callExit(err)
	}
	if asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	fmt.Fprintf(stdout, "%s closed\n", control.SessionCount(res.Closed))
	return 0
}

// callExit is the exit code of a sessions request that failed with err: 1
// when the daemon refused it, 2 when it could not be asked or did not
// answer.
func callExit(err error) int {
	var refused *control.RefusedError
	if errors.As(err, &refused) {
		return 1
	}
	return control.ExitUnreachable
}
