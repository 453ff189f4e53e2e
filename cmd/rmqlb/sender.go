package main

import (
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/rmqlb/rmqlb/vrrp"
	"github.com/rmqlb/rmqlb/vrrp/sendproc"
)

// senderFD and senderAliveFD are the descriptors of the socket pairs
// the daemon starts the sender process with (exec.Cmd.ExtraFiles[0] and
// [1]): requests, and liveness messages.
const (
	senderFD      = 3
	senderAliveFD = 4
)

// defineVRRPSender is rmqlb vrrp-sender [--rt-priority N], the daemon's
// advert sender process (package vrrp/sendproc).
func defineVRRPSender(fs *flag.FlagSet) runFunc {
	prio := fs.Int("rt-priority", 0, "SCHED_FIFO priority of every thread (0: normal priority)")
	return func(args []string, _, stderr io.Writer) int {
		if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
			return code
		}
		if err := vrrp.CheckRealTimePriority(*prio); err != nil {
			fmt.Fprintf(stderr, "rmqlb vrrp-sender: %v\n", err)
			return 2
		}
		// A stop of the whole service (systemd signals the unit's
		// control group; Ctrl-C signals the terminal's process group)
		// reaches this process too, and so does a SIGHUP sent to the
		// whole unit to reload the daemon. It ends when the daemon
		// closes the socket pair or dies, once the daemon has stopped
		// the adverts: ending first would make the daemon take it for a
		// crash and start another one.
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		if err := sendproc.Serve(senderFD, senderAliveFD, sendproc.ServeConfig{RealTimePriority: *prio}); err != nil {
			fmt.Fprintf(stderr, "rmqlb vrrp-sender: %v\n", err)
			return 1
		}
		return 0
	}
}
