package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/daemon"
)

// defineRemoveStale is rmqlb remove-stale.
func defineRemoveStale(fs *flag.FlagSet) runFunc {
	path := fs.String("config", defaultConfig, "the configuration `FILE` of the daemon whose VIPs to remove")
	return func(args []string, stdout, stderr io.Writer) int {
		if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
			return code
		}
		return cmdRemoveStale(*path, stdout, stderr)
	}
}

// cmdRemoveStale removes the VIPs that the daemon of the file at path,
// which no longer runs, left behind (daemon.RemoveStaleVIPs): those of
// the instances it last ran (daemon.ReadScope), or, when it left no
// record, those of the file (config.LoadVRRP, which reads none of the
// files it names).
func cmdRemoveStale(path string, stdout, stderr io.Writer) int {
	socket, err := config.ControlSocketOf(path) // also of a file that does not validate
	if err != nil {
		// Not even YAML: the packaged daemon's socket, most likely.
		socket = config.DefaultControlSocket
		fmt.Fprintf(stderr, "rmqlb remove-stale: %v: looking for the daemon of %s\n", err, socket)
	}
	scope, err := daemon.ReadScope(socket)
	if errors.Is(err, os.ErrNotExist) {
		// The files the configuration names may be gone with the
		// daemon: only its VIPs are needed.
		instances, cerr := config.LoadVRRP(path)
		if cerr != nil {
			fmt.Fprintf(stderr, "rmqlb remove-stale: no record of the VIPs a daemon ran (%s), and %s does not load: %v\n", daemon.ScopePath(socket), path, cerr)
			return 1
		}
		scope, err = daemon.ConfigScope(instances), nil
	}
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb remove-stale: %v\n", err)
		return 1
	}
	log, err := newLogger(zap.NewAtomicLevelAt(zap.InfoLevel), "console", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb remove-stale: %v\n", err)
		return 1
	}
	removed, err := daemon.RemoveStaleVIPs(socket, scope, log)
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
