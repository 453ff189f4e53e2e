package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rmqlb/rmqlb/config"
)

// clientFlags returns the flag set of a client command that talks to the
// daemon, with its --socket and --config flags, and the function that
// returns, once the flags are parsed, the control socket to ask: --socket,
// or the control_socket of the --config file, or the default.
func clientFlags(name string, stderr io.Writer) (fs *flag.FlagSet, socket func() (string, error)) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("socket", config.DefaultControlSocket, "control socket of the daemon")
	file := fs.String("config", "", "configuration file of the daemon, whose control_socket to use instead of --socket")
	socket = func() (string, error) {
		if *file == "" {
			return *path, nil
		}
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "socket" })
		if set {
			return "", errors.New("--socket and --config name the daemon twice: give one")
		}
		sock, err := config.ControlSocketOf(*file)
		if err != nil {
			return "", fmt.Errorf("finding the control socket in %s (give --socket instead): %w", *file, err)
		}
		return sock, nil
	}
	return fs, socket
}
