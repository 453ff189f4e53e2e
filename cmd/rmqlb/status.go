package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/control"
)

// Watch intervals: the default of a bare --watch, and the shortest one.
const (
	defaultWatch = time.Second
	minWatch     = 100 * time.Millisecond
)

// clearScreen moves the cursor home and clears a terminal.
const clearScreen = "\x1b[H\x1b[2J"

// statusOutput is how cmdStatus prints.
type statusOutput struct {
	json   bool
	tty    bool // stdout is a terminal: --watch clears it
	format control.FormatOptions
}

// statusFlags are the flags of rmqlb status.
type statusFlags struct {
	socketOf      func() (string, error)
	json, verbose *bool
	watch         watchFlag
}

// defineStatusFlags defines the flags of rmqlb status on fs.
func defineStatusFlags(fs *flag.FlagSet) *statusFlags {
	f := &statusFlags{socketOf: clientFlags(fs)}
	f.json = fs.Bool("json", false, "print the status as the daemon sent it: one JSON object (control/statusschema/status.schema.json)")
	f.verbose = fs.Bool("verbose", false, "list each VRRP instance's latest state changes (8) and each checked backend's (16) with their reasons, and each listener's persistence entries (at most 100)")
	fs.Var(&f.watch, "watch", "print the status again every `INTERVAL` (default 1s, at least 100ms: 2s, 500ms, or a number of seconds) until SIGINT or SIGTERM")
	return f
}

// defineStatus is rmqlb status.
func defineStatus(fs *flag.FlagSet) runFunc {
	f := defineStatusFlags(fs)
	return func(args []string, stdout, stderr io.Writer) int {
		if err := parseStatusArgs(fs, &f.watch, args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return usageError(fs, stderr, err.Error())
		}
		return cmdStatus(f, stdout, stderr)
	}
}

// cmdStatus asks the running daemon for its state and prints it (the
// verdict, then tables; with --json as the daemon sent it). Exit 0 when
// healthy, 1 when degraded (control.Assess), 2 when the daemon does not
// answer or the command line is wrong. With --watch it prints the status
// again every interval until SIGINT or SIGTERM, and exits with the code of
// the last status shown.
func cmdStatus(f *statusFlags, stdout, stderr io.Writer) int {
	asJSON, verbose, watch := f.json, f.verbose, f.watch
	socket, err := f.socketOf()
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb status: %v\n", err)
		return control.ExitUnreachable
	}
	tty := isTerminal(stdout)
	o := statusOutput{json: *asJSON, tty: tty, format: control.FormatOptions{
		Color:   tty && os.Getenv("NO_COLOR") == "",
		Verbose: *verbose,
	}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !watch.on {
		return showStatus(ctx, socket, o, stdout, stderr)
	}
	return watchStatus(ctx, socket, watch.interval(), o, stdout, stderr)
}

// parseStatusArgs parses the flags; an interval may follow --watch as its
// own argument ("--watch 2s").
func parseStatusArgs(fs *flag.FlagSet, watch *watchFlag, args []string) error {
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return nil
		}
		if !watch.on || watch.every != 0 {
			return fmt.Errorf("unexpected argument %q", rest[0])
		}
		if err := watch.Set(rest[0]); err != nil {
			return err
		}
		args = rest[1:]
	}
}

// watchStatus shows the status every interval until ctx is done and
// returns the exit code of the last one shown. On a terminal each status
// replaces the last; elsewhere they follow each other, separated by a
// blank line.
func watchStatus(ctx context.Context, socket string, every time.Duration, o statusOutput, stdout, stderr io.Writer) int {
	tick := time.NewTicker(every)
	defer tick.Stop()
	code := control.ExitUnreachable
	for i := 0; ; i++ {
		// Each status is written at once, so that the screen does not
		// flicker; errors follow it.
		var out, errOut bytes.Buffer
		if o.tty {
			out.WriteString(clearScreen)
		} else if i > 0 {
			out.WriteByte('\n')
		}
		c := showStatus(ctx, socket, o, &out, &errOut)
		if ctx.Err() != nil {
			return code
		}
		code = c
		stdout.Write(out.Bytes())
		stderr.Write(errOut.Bytes())
		select {
		case <-ctx.Done():
			return code
		case <-tick.C:
		}
	}
}

// showStatus asks for the status once, prints it and returns its exit
// code.
func showStatus(ctx context.Context, socket string, o statusOutput, stdout, stderr io.Writer) int {
	var raw json.RawMessage
	if err := control.CallContext(ctx, socket, control.Request{Command: "status"}, &raw, 5*time.Second); err != nil {
		fmt.Fprintf(stderr, "rmqlb status: %v\n", err)
		return control.ExitUnreachable
	}
	var s control.Status
	if err := json.Unmarshal(raw, &s); err != nil {
		fmt.Fprintf(stderr, "rmqlb status: decoding status: %v\n", err)
		return control.ExitUnreachable
	}
	if o.json {
		if err := writeIndentedJSON(stdout, raw); err != nil {
			fmt.Fprintf(stderr, "rmqlb status: %v\n", err)
			return control.ExitUnreachable
		}
	} else if err := control.Format(stdout, s, o.format); err != nil {
		fmt.Fprintf(stderr, "rmqlb status: %v\n", err)
		return control.ExitUnreachable
	}
	return control.VerdictOf(s).ExitCode()
}

// writeIndentedJSON writes the JSON document raw to w indented, with a
// newline; an error only if raw is not JSON.
func writeIndentedJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	w.Write(buf.Bytes())
	return nil
}

// watchFlag is --watch with its optional interval: a boolean flag
// ("--watch") that also takes a value ("--watch=2s").
type watchFlag struct {
	on    bool
	every time.Duration // 0: not given
}

func (w *watchFlag) IsBoolFlag() bool { return true }

func (w *watchFlag) String() string {
	if w == nil || !w.on {
		return ""
	}
	return w.interval().String()
}

func (w *watchFlag) Set(s string) error {
	switch s {
	case "true":
		w.on = true
		return nil
	case "false":
		w.on, w.every = false, 0
		return nil
	}
	d, err := parseInterval(s)
	if err != nil {
		return err
	}
	w.on, w.every = true, d
	return nil
}

// interval is the interval given, or the default.
func (w *watchFlag) interval() time.Duration {
	if w.every == 0 {
		return defaultWatch
	}
	return w.every
}

// parseInterval parses a watch interval: a Go duration ("2s", "500ms") or
// a number of seconds ("2", "0.5"), at least minWatch.
func parseInterval(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("parsing watch interval %q: want a duration (2s, 500ms) or a number of seconds", s)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < minWatch {
		return 0, fmt.Errorf("watch interval %s is shorter than %s", d, minWatch)
	}
	return d, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
