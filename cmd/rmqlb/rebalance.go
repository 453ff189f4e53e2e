package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// defineRebalance is rmqlb rebalance: spread a listener's sessions over
// its serving backends by weight again (see daemon.Daemon.Rebalance).
func defineRebalance(fs *flag.FlagSet) runFunc {
	socketOf := clientFlags(fs)
	paced := definePacedFlags(fs, "", "the rebalance")
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagExit(err)
		}
		var wrong string
		switch {
		case len(pos) == 0:
			wrong = "name a LISTENER"
		case len(pos) > 1:
			wrong = fmt.Sprintf("unexpected argument %q", pos[1])
		case pos[0] == "" || strings.Contains(pos[0], "/"):
			wrong = fmt.Sprintf("%q is not a LISTENER: a rebalance moves the sessions of a whole listener", pos[0])
		}
		if wrong != "" {
			return usageError(fs, stderr, wrong)
		}
		if !paced.rateOK("rmqlb rebalance", stderr) {
			return 2
		}
		socket, err := socketOf()
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb rebalance: %v\n", err)
			return 2
		}
		var r control.Rebalance
		req := control.Request{Command: "rebalance", Args: []string{pos[0], strconv.Itoa(*paced.rate)}}
		if err := control.Call(socket, req, &r, 10*time.Second); err != nil {
			fmt.Fprintf(stderr, "rmqlb rebalance: %v%s\n", err, outcomeUnknown(err))
			return 1
		}
		if !r.Running() {
			fmt.Fprintf(stdout, "%s: balanced already: %s\n", r.Listener, control.ShareList(r.Shares))
			return 0
		}
		fmt.Fprintf(stdout, "%s: rebalancing at %d a second: %s\n", r.Listener, r.Rate, control.ShareList(r.Shares))
		if !*paced.wait {
			return 0
		}
		return follow(socket, followSpec{what: "the rebalance of " + r.Listener, upgradeEnds: true}, func(s control.Status) followed {
			for _, c := range s.Rebalances {
				if c.Listener != r.Listener || !c.Since.Equal(r.Since) {
					continue
				}
				switch {
				case c.Running():
					return followed{found: true, running: true, progress: fmt.Sprintf("%s: %d moved; %s%s", c.Listener, c.Moved, control.ShareList(c.Shares), pausedNote(c.Paused))}
				case c.Outcome == control.OutcomeBalanced:
					return followed{found: true, ok: true, result: fmt.Sprintf("%s: balanced, %d moved in %s: %s", c.Listener, c.Moved,
						c.Ended.Sub(c.Since).Round(100*time.Millisecond), control.ShareList(c.Shares))}
				}
				return followed{found: true, result: fmt.Sprintf("the rebalance of %s ended: %s; %d moved", c.Listener, c.Outcome, c.Moved)}
			}
			return followed{}
		}, stdout, stderr)
	}
}
