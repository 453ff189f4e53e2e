package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/daemon"
	"github.com/rmqlb/rmqlb/notify"
)

// defineNotify is rmqlb notify NAME STATE: the daemon runs a VRRP
// instance's notify hook once, for a test (daemon.TestHook), and the
// command prints its outcome and output; exit 1 unless it exited 0.
func defineNotify(fs *flag.FlagSet) runFunc {
	socketOf := clientFlags(fs)
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagExit(err)
		}
		if len(pos) != 2 {
			return usageError(fs, stderr, "name a VRRP instance and a state")
		}
		if _, err := notify.ParseKind(pos[1]); err != nil {
			return usageError(fs, stderr, err.Error()) // as the daemon reads it
		}
		path, err := socketOf()
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb notify: %v\n", err)
			return 2
		}
		var ans control.HookTest
		req := control.Request{Command: "notify", Args: pos}
		if err := control.Call(path, req, &ans, daemon.NotifyCommandTimeout+5*time.Second); err != nil {
			fmt.Fprintf(stderr, "rmqlb notify: %v%s\n", err, outcomeUnknown(err))
			return 1
		}
		fmt.Fprintf(stdout, "%s: %s hook %s: %s in %v\n", ans.Instance, strings.ToLower(ans.State), strings.Join(ans.Argv, " "),
			ans.Result, ans.Duration.Round(time.Millisecond))
		for _, l := range ans.Output {
			fmt.Fprintf(stdout, "  %s\n", l)
		}
		if !ans.OK() {
			fmt.Fprintf(stderr, "rmqlb notify: %s\n", ans.Error)
			return 1
		}
		return 0
	}
}
