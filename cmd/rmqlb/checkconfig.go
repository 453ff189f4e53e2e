package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/daemon"
)

// defineCheckConfig is rmqlb check-config.
func defineCheckConfig(fs *flag.FlagSet) runFunc {
	path := fs.String("config", defaultConfig, "the configuration `FILE` to check")
	checks := fs.Bool("checks", false, "also run every backend's health check once, from this host, and print their results")
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagExit(err)
		}
		// The file may be named as an operand too, as promtool, nginx -t
		// and visudo -c users type it.
		var wrong string
		switch {
		case len(pos) > 1:
			wrong = fmt.Sprintf("unexpected argument %q: check one FILE at a time", pos[1])
		case len(pos) == 1 && flagSet(fs, "config"):
			wrong = fmt.Sprintf("unexpected argument %q: name the FILE once, with --config or alone", pos[0])
		case len(pos) == 1 && pos[0] == "":
			wrong = "an empty FILE"
		case len(pos) == 1:
			*path = pos[0]
		}
		if wrong != "" {
			return usageError(fs, stderr, wrong)
		}
		return cmdCheckConfig(*path, *checks, stdout, stderr)
	}
}

// cmdCheckConfig validates a file: exit 0, or 1 with one line per problem. With checks it then
// runs the backends' checks once: exit 1 unless every one passed without a warning.
func cmdCheckConfig(path string, checks bool, stdout, stderr io.Writer) int {
	c, err := config.Load(path)
	if err == nil {
		for _, w := range c.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		fmt.Fprintf(stdout, "%s: ok\n", path)
		printClientListFiles(c, stdout)
		printStatePreview(c, time.Now(), stdout, stderr)
		if checks {
			return printChecks(daemon.RunChecksOnce(context.Background(), c, daemon.NewChecker), time.Now(), stdout, stderr)
		}
		return 0
	}
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintf(stderr, "%s:%s\n", path, trimLine(e))
		}
		return 1
	}
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	return 1
}

// printClientListFiles says, of each listener of c that names a file of
// client addresses, how many addresses and prefixes its list holds and
// how many of them the file gave: what the file was read as.
func printClientListFiles(c *config.Config, stdout io.Writer) {
	verb := map[string]string{"allowed_clients_file": "allows", "denied_clients_file": "denies"}
	for _, l := range c.Listeners {
		for _, f := range l.ListFiles() {
			fmt.Fprintf(stdout, "listener %s %s %d client addresses or prefixes, %d of them from %s\n",
				l.Name, verb[f.Key], f.Listed, f.Prefixes, f.Path)
		}
	}
}

// printStatePreview says what a start of c at now would make of its state
// file: the operator's states it restores and those it leaves out, with
// why, and the fields it ignores; a file it could not read is a warning (a start goes on without it).
func printStatePreview(c *config.Config, now time.Time, stdout, stderr io.Writer) {
	p, err := daemon.PreviewStateFile(c, now)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "warning: state file %s: %v: a start would not restore the operator's states in it\n", p.Path, err)
		return
	case p.Path == "":
		return
	case !p.Exists:
		fmt.Fprintf(stdout, "state file %s: none yet: a start begins without operator states and writes it\n", p.Path)
		return
	}
	fmt.Fprintf(stdout, "state file %s, written %s: a start restores %d of the operator's states in it and leaves out %d\n",
		p.Path, p.Saved.Local().Format(time.DateTime), len(p.Restored), len(p.LeftOut))
	for _, r := range p.Restored {
		fmt.Fprintf(stdout, "  restores   %s\n", r)
	}
	for _, l := range p.LeftOut {
		fmt.Fprintf(stdout, "  leaves out %s\n", l)
	}
	for _, f := range p.Ignored {
		fmt.Fprintf(stdout, "  ignores    %s: a field this version does not know (written by a newer one?), kept in the file while its entry is unchanged\n", f)
	}
}

// trimLine formats a FieldError as "LINE: field: msg" (compiler style).
func trimLine(e config.FieldError) string {
	if e.Line > 0 {
		e2 := e
		e2.Line = 0
		return fmt.Sprintf("%d: %s", e.Line, e2.Error())
	}
	return " " + e.Error()
}

// printChecks prints one line per check run by check-config --checks, with a note of each TLS
// certificate that expires within 30 days of now, and returns 0 when every one passed without a
// warning (a resource alarm is the broker's state, not the check's, and an expiry to come is
// not the check's failure: they do not count), else 1 with the count on stderr.
func printChecks(results []daemon.OnceResult, now time.Time, stdout, stderr io.Writer) int {
	if len(results) == 0 {
		fmt.Fprintln(stdout, "no backend has a check")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tKIND\tADDRESS\tTOOK\tRESULT")
	bad := 0
	for _, r := range results {
		var res string
		switch {
		case r.Result.Inconclusive:
			res = "INCONCLUSIVE (this host): " + r.Result.Err.Error()
			bad++
		case r.Result.Err != nil:
			res = "FAILED: " + r.Result.Err.Error()
			bad++
		case r.Result.Warning != "":
			res = "warning: " + r.Result.Warning
			if len(r.PassedElsewhere) > 0 {
				res += fmt.Sprintf(" [refused by this node alone: the same login passed on %s]", joinIDs(r.PassedElsewhere))
			}
			bad++
		default:
			res = "ok"
			if r.Result.Info != "" {
				res += ": " + r.Result.Info
			}
		}
		if r.Result.Alarm != "" && r.Result.Err == nil {
			res += " [alarm: " + r.Result.Alarm + "]"
		}
		for _, c := range r.Result.Certificates {
			if note := control.CertificateNote(now, c); note != "" {
				res += " [" + note + "]"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", r.Backend, r.Kind, r.Address, r.Took.Round(100*time.Microsecond), res)
	}
	tw.Flush()
	if bad > 0 {
		fmt.Fprintf(stderr, "%d of %d checks did not pass cleanly\n", bad, len(results))
		return 1
	}
	return 0
}

// joinIDs joins backends as "amqp/rmq1, amqp/rmq3".
func joinIDs(ids []backend.ID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, ", ")
}
