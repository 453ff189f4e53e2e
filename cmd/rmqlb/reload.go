package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/daemon"
)

// defineReload is rmqlb reload: it asks the daemon to reload its
// configuration file and prints what was applied, refused and left for a
// restart; exit 1 when the file or a change was refused. With --dry-run it
// prints what a reload would do, and applies nothing.
func defineReload(fs *flag.FlagSet) runFunc {
	socketOf := clientFlags(fs)
	dry := fs.Bool("dry-run", false, "print what a reload would do now, with the sessions and addresses each change touches, and apply nothing")
	file := fs.String("file", "", "with --dry-run: plan a reload of the candidate `FILE` in place of the daemon's own, before it is installed (root and the daemon's user only)")
	asJSON := fs.Bool("json", false, "print the daemon's answer as it came, one JSON object (the exit status is the same)")
	return func(args []string, stdout, stderr io.Writer) int {
		if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
			return code
		}
		if *file != "" && !*dry {
			fmt.Fprintln(stderr, "rmqlb reload: --file names the candidate of a dry run: add --dry-run")
			return 2
		}
		if *dry {
			candidate := ""
			if *file != "" {
				abs, err := filepath.Abs(*file)
				if err != nil {
					fmt.Fprintf(stderr, "rmqlb reload: --file: %v\n", err)
					return 2
				}
				candidate = abs
			}
			return cmdReloadPlan(socketOf, candidate, *asJSON, stdout, stderr)
		}
		return cmdReload(socketOf, *asJSON, stdout, stderr)
	}
}

// cmdReloadPlan asks the daemon at the socket socketOf returns what a
// reload would do, of its file or of the file at the absolute path
// candidate, and prints it: exit 0 when a reload would take the file, 1
// when it would refuse it or a change in it, as far as the daemon can
// tell before it tries.
func cmdReloadPlan(socketOf func() (string, error), candidate string, asJSON bool, stdout, stderr io.Writer) int {
	var p control.ReloadPlan
	older := func(err error) string {
		switch msg := err.Error(); {
		case strings.Contains(msg, "usage: reload [dry-run]"):
			return " (this daemon predates --file)"
		case strings.Contains(msg, "usage: reload") && !strings.Contains(msg, "[dry-run"):
			return " (this daemon predates --dry-run)"
		}
		return ""
	}
	args := []string{"dry-run"}
	if candidate != "" {
		args = append(args, candidate)
	}
	raw, ok := askReload(socketOf, args, &p, stderr, older)
	switch {
	case !ok:
		return 2
	case asJSON:
		writeIndentedJSON(stdout, raw) // decoded by askReload: valid JSON
	default:
		formatReloadPlan(stdout, stderr, p)
	}
	if p.Error != "" || p.Blocked != "" || len(p.Refused) > 0 {
		return 1
	}
	return 0
}

// askReload sends the daemon at the socket socketOf returns a reload
// request with args and decodes its answer into result. It returns the
// answer as it came and whether it got one; if not, it prints why to
// stderr, with what explain adds.
func askReload(socketOf func() (string, error), args []string, result any, stderr io.Writer, explain func(error) string) (json.RawMessage, bool) {
	socket, err := socketOf()
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb reload: %v\n", err)
		return nil, false
	}
	var raw json.RawMessage
	if err := control.Call(socket, control.Request{Command: "reload", Args: args}, &raw, daemon.ReloadCommandTimeout+5*time.Second); err != nil {
		fmt.Fprintf(stderr, "rmqlb reload: %v%s\n", err, explain(err))
		return nil, false
	}
	if err := json.Unmarshal(raw, result); err != nil {
		fmt.Fprintf(stderr, "rmqlb reload: decoding the answer: %v%s\n", err, explain(err))
		return nil, false
	}
	return raw, true
}

// formatReloadPlan prints p: what a reload would apply, each change with
// its effects indented below it, what would need a restart, and the
// warnings; refusals go to stderr.
func formatReloadPlan(stdout, stderr io.Writer, p control.ReloadPlan) {
	if p.Error != "" {
		file := "the file"
		if p.File != "" {
			file = p.File
		}
		fmt.Fprintf(stderr, "rmqlb reload --dry-run: a reload would refuse %s, and the daemon would run on unchanged:\n%s\n", file, p.Error)
		if p.File != "" && strings.Contains(p.Error, "permission denied") {
			fmt.Fprintln(stderr, "(the daemon reads a candidate as its own user, the packaged daemon's is rmqlb: make the file, and the files it names, readable by it, as they must be once installed)")
		}
		return
	}
	if p.Blocked != "" {
		fmt.Fprintf(stderr, "rmqlb reload --dry-run: a reload now would be refused: %s\n", p.Blocked)
	}
	if p.File != "" {
		fmt.Fprintf(stdout, "dry run of %s in place of the daemon's file: nothing was applied\n", p.File)
	} else {
		fmt.Fprintln(stdout, "dry run: nothing was applied")
	}
	if len(p.Changes) == 0 && len(p.Pending) == 0 && len(p.Refused) == 0 {
		fmt.Fprintln(stdout, "nothing would change")
	}
	for _, c := range p.Changes {
		fmt.Fprintf(stdout, "would apply: %s\n", c.Change)
		for _, e := range c.Effects {
			fmt.Fprintf(stdout, "    %s\n", e)
		}
	}
	for _, r := range p.Pending {
		fmt.Fprintf(stdout, "would need restart: %s\n", r)
	}
	if len(p.Pending) > 0 {
		fmt.Fprintln(stdout, restartInPlace)
	}
	for _, r := range p.Refused {
		fmt.Fprintf(stderr, "would be refused: %s\n", r)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
}

// restartInPlace follows the changes a reload leaves to a restart (a VRRP
// instance's interface, VRID or version): an upgrade in place applies
// them and moves nothing else, where a restart of the service would hand
// every VIP over and close every session.
const restartInPlace = "    rmqlb upgrade applies it in place: the changed VRRP instance starts afresh; the listeners, their sessions and the other instances carry on"

// cmdReload asks the daemon at the socket socketOf returns to reload.
func cmdReload(socketOf func() (string, error), asJSON bool, stdout, stderr io.Writer) int {
	var r control.Reload
	raw, ok := askReload(socketOf, nil, &r, stderr, outcomeUnknown)
	switch {
	case !ok:
		return 2
	case asJSON:
		writeIndentedJSON(stdout, raw) // decoded by askReload: valid JSON
		if !r.OK() {
			return 1
		}
		return 0
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
	if len(r.Pending) > 0 {
		fmt.Fprintln(stdout, restartInPlace)
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
