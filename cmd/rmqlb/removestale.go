package main

import (
	"flag"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/daemon"
)

// defineRemoveStale is rmqlb remove-stale.
func defineRemoveStale(fs *flag.FlagSet) runFunc {
	path := fs.String("config", defaultConfig, "the configuration `FILE` whose VIPs to remove")
	return func(args []string, stdout, stderr io.Writer) int {
		if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
			return code
		}
		return cmdRemoveStale(*path, stdout, stderr)
	}
}

// cmdRemoveStale removes the VIPs of the file at path that a daemon which
// no longer runs left behind (daemon.RemoveStaleVIPs).
func cmdRemoveStale(path string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb remove-stale: %s: %v\n", path, err)
		return 1
	}
	log, err := newLogger(zap.NewAtomicLevelAt(zap.InfoLevel), "console", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb remove-stale: %v\n", err)
		return 1
	}
	removed, err := daemon.RemoveStaleVIPs(cfg, log)
	for _, p := range removed {
		fmt.Fprintf(stdout, "removed stale VIP %s\n", p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb remove-stale: %v\n", err)
		return 1
	}
	if len(removed) == 0 {
		fmt.Fprintln(stdout, "no stale VIP")
	}
	return 0
}
