package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/vrrp"
)

const vrrpUsage = `usage:
  rmqlb vrrp release [--socket PATH | --config FILE] NAME [--for DURATION]
                    hand instance NAME's VIPs over for planned maintenance; this host stays
                    BACKUP for DURATION (a Go duration, e.g. 30m), without --for until ready
  rmqlb vrrp ready [--socket PATH | --config FILE] NAME
                    end the release: NAME is eligible as master again with its priority
`

// cmdVRRP runs `rmqlb vrrp release|ready`: the planned handover of a VRRP
// instance (see package daemon, ReleaseVRRP and ReadyVRRP).
func cmdVRRP(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, vrrpUsage)
		return 2
	}
	what := args[0]
	if what != "release" && what != "ready" {
		fmt.Fprintf(stderr, "rmqlb vrrp: unknown command %q\n%s", what, vrrpUsage)
		return 2
	}
	fs, socket := clientFlags("vrrp "+what, stderr)
	var forDur time.Duration
	if what == "release" {
		fs.DurationVar(&forDur, "for", 0, "how long the host stays released (0: until `rmqlb vrrp ready`)")
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return 2
	}
	if len(pos) != 1 || forDur < 0 {
		fmt.Fprint(stderr, vrrpUsage)
		return 2
	}
	req := control.Request{Command: "vrrp", Args: []string{what, pos[0]}}
	if forDur > 0 {
		req.Args = append(req.Args, forDur.String())
	}
	path, err := socket()
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb vrrp %s: %v\n", what, err)
		return 2
	}
	var s vrrp.Snapshot
	if err := control.Call(path, req, &s, 10*time.Second); err != nil {
		fmt.Fprintf(stderr, "rmqlb vrrp %s: %v\n", what, err)
		return 1
	}
	fmt.Fprintln(stdout, describeRelease(s))
	return 0
}

// parseInterspersed parses fs from args allowing flags after positional
// arguments (`release NAME --for 5m`), and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
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

// describeRelease says in one line what the instance does now.
func describeRelease(s vrrp.Snapshot) string {
	if !s.Released {
		return fmt.Sprintf("%s: ready, %s with priority %d", s.Name, s.State, s.EffectivePriority)
	}
	until := "until `rmqlb vrrp ready " + s.Name + "`"
	if !s.ReleasedUntil.IsZero() {
		until = "until " + s.ReleasedUntil.Local().Format(time.DateTime)
	}
	switch s.State {
	case vrrp.StateMaster:
		return fmt.Sprintf("%s: released %s; MASTER, advertising priority 0: the best backup takes over and this host keeps the VIPs until it has announced them (watch `rmqlb status`)", s.Name, until)
	case vrrp.StateBackup:
		return fmt.Sprintf("%s: released %s; BACKUP: this host takes the VIPs only if no other router is left", s.Name, until)
	}
	return fmt.Sprintf("%s: released %s; %s", s.Name, until, s.State)
}
