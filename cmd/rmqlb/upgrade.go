package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// upgradeWait bounds the wait for the daemon's answer: it answers once the
// new process has taken over or has failed, within about a minute.
const upgradeWait = 90 * time.Second

// defineUpgrade is rmqlb upgrade: the running daemon starts a new program
// that takes over its sockets and VRRP state (see package daemon, Upgrade).
func defineUpgrade(fs *flag.FlagSet) runFunc {
	socketOf := clientFlags(fs)
	binary := fs.String("binary", "", "start the program at `PATH` (default: the daemon's own executable's path, where a package upgrade puts the new one)")
	asJSON := fs.Bool("json", false, "print the daemon's answer as JSON")
	return func(args []string, stdout, stderr io.Writer) int {
		if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
			return code
		}
		socket, err := socketOf()
		if err != nil {
			fmt.Fprintf(stderr, "rmqlb upgrade: %v\n", err)
			return 2
		}
		req := control.Request{Command: "upgrade"}
		if *binary != "" {
			abs, err := filepath.Abs(*binary)
			if err != nil {
				fmt.Fprintf(stderr, "rmqlb upgrade: %v\n", err)
				return 2
			}
			req.Args = []string{abs}
		}
		var u control.Upgrade
		if err := control.Call(socket, req, &u, upgradeWait); err != nil {
			fmt.Fprintf(stderr, "rmqlb upgrade: %v%s\n", err, outcomeUnknown(err))
			return 1
		}
		if *asJSON {
			b, _ := json.MarshalIndent(u, "", "  ")
			fmt.Fprintln(stdout, string(b))
			return 0
		}
		u.Print(stdout)
		return 0
	}
}
