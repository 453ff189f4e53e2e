package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/rmqlb/rmqlb/config"
)

// clientFlags defines the --socket and --config flags of a client command
// that talks to the daemon on fs, and returns the function that returns,
// once the flags are parsed, the control socket to ask: --socket, or the
// control_socket of the --config file, or the default.
func clientFlags(fs *flag.FlagSet) (socket func() (string, error)) {
	path := fs.String("socket", config.DefaultControlSocket, "ask the daemon at its control socket, a unix socket `PATH`")
	file := fs.String("config", "", "ask the daemon at the control_socket of its configuration `FILE` (instead of --socket)")
	socket = func() (string, error) {
		if *file == "" {
			return *path, nil
		}
		if flagSet(fs, "socket") {
			return "", errors.New("--socket and --config name the daemon twice: give one")
		}
		sock, err := config.ControlSocketOf(*file)
		if err != nil {
			return "", fmt.Errorf("finding the control socket in %s (give --socket instead): %w", *file, err)
		}
		return sock, nil
	}
	return socket
}
