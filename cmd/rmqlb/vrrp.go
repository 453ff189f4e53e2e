package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/vrrp"
)

// defineVRRP is rmqlb vrrp release|ready: the planned handover of a VRRP
// instance (see package daemon, ReleaseVRRP and ReadyVRRP).
func defineVRRP(fs *flag.FlagSet) runFunc {
	socketOf := clientFlags(fs)
	forDur := fs.Duration("for", 0, "with release: how long the host stays released, a Go duration `PERIOD` such as 30m (default: until rmqlb vrrp ready)")
	all := fs.Bool("all", false, "every VRRP instance of the daemon, in place of NAME (the whole host's maintenance)")
	wait := fs.Bool("wait", false, "with release: wait until each instance released has handed its VIPs over to another router; with ready: until each is MASTER, or BACKUP of a master it does not preempt (exit 1 if one is not within --timeout)")
	timeout := fs.Duration("timeout", defaultReleaseWait, "with --wait: how long to wait, a Go duration `PERIOD`")
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagExit(err)
		}
		named := 2
		if *all {
			named = 1
		}
		var wrong string
		switch {
		case len(pos) == 0:
			wrong = "name a subcommand: release or ready"
		case pos[0] != "release" && pos[0] != "ready":
			wrong = fmt.Sprintf("unknown subcommand %q (release, ready)", pos[0])
		case *all && len(pos) > 1:
			wrong = fmt.Sprintf("--all is every instance: unexpected %q", pos[1])
		case len(pos) != named:
			wrong = "name one VRRP instance, or --all for every one"
		case *forDur < 0:
			wrong = "--for must be a positive duration (leave it out to release until `rmqlb vrrp ready`)"
		case flagSet(fs, "timeout") && !*wait:
			wrong = "--timeout is how long --wait waits: give --wait too"
		case *timeout <= 0:
			wrong = "--timeout must be a positive duration"
		}
		if wrong != "" {
			return usageError(fs, stderr, wrong)
		}
		what := pos[0]
		set := flagSet(fs, "for")
		if set && what != "release" {
			fmt.Fprintln(stderr, "rmqlb vrrp ready: --for belongs to release")
			fs.Usage()
			return 2
		}
		if set && *forDur == 0 {
			// Not "until ready": an operator who wrote a duration meant one.
			fmt.Fprintln(stderr, "rmqlb vrrp release: --for must be a positive duration (leave it out to release until `rmqlb vrrp ready`)")
			fs.Usage()
			return 2
		}
		req := control.Request{Command: "vrrp", Args: []string{what + "-all"}}
		if !*all {
			req.Args = []string{what, pos[1]}
		}
		if *forDur > 0 {
			req.Args = append(req.Args, forDur.String())
		}
		path, err := socketOf()
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb vrrp %s: %v\n", what, err)
			return 2
		}
		var ans control.VRRPAllAnswer
		if *all {
			err = control.Call(path, req, &ans, 10*time.Second)
		} else {
			var one control.VRRPAnswer
			err = control.Call(path, req, &one, 10*time.Second)
			ans = control.VRRPAllAnswer{Instances: []vrrp.Snapshot{one.Snapshot}, StateFileNote: one.StateFileNote}
		}
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb vrrp %s: %v%s\n", what, err, outcomeUnknown(err))
			return 1
		}
		for _, s := range ans.Instances {
			fmt.Fprintln(stdout, describeRelease(s, *wait))
		}
		warnStateFile(stderr, "rmqlb vrrp "+what, ans.StateFileNote)
		switch {
		case !*wait:
			return 0
		case what == "ready":
			return waitReady(path, ans.Instances, *timeout, stdout, stderr)
		}
		return waitHandover(path, ans.Instances, *timeout, stdout, stderr)
	}
}

// parseInterspersed parses fs from args allowing flags after positional
// arguments (`release NAME --for 5m`), and returns the positional ones. A
// negative number is positional (`weight -3`), for the command to refuse
// as a number rather than as a flag.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if len(args) > 0 {
			if _, err := strconv.ParseFloat(args[0], 64); err == nil {
				pos, args = append(pos, args[0]), args[1:]
				continue
			}
		}
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// describeRelease says in one line what the instance does now; waiting
// says that the command follows the handover, or the return, itself
// (--wait).
func describeRelease(s vrrp.Snapshot, waiting bool) string {
	if !s.Released {
		line := fmt.Sprintf("%s: ready, %s with priority %d", s.Name, s.State, s.EffectivePriority)
		if waiting {
			line += " (waiting until it is back in the election)"
		}
		return line
	}
	until := "until `rmqlb vrrp ready " + s.Name + "`"
	if !s.ReleasedUntil.IsZero() {
		until = "until " + s.ReleasedUntil.Local().Format(time.DateTime)
	}
	switch s.State {
	case vrrp.StateMaster:
		follow := "watch `rmqlb status`"
		if waiting {
			follow = "waiting for the handover"
		}
		return fmt.Sprintf("%s: released %s; MASTER, advertising priority 0: the best backup takes over and this host keeps the VIPs until it has announced them (%s)", s.Name, until, follow)
	case vrrp.StateBackup:
		return fmt.Sprintf("%s: released %s; BACKUP: this host takes the VIPs only if no other router is left", s.Name, until)
	}
	return fmt.Sprintf("%s: released %s; %s", s.Name, until, s.State)
}
