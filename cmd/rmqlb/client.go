package main

import (
	"flag"
	"io"

	"github.com/rmqlb/rmqlb/config"
)

// clientFlags returns the flag set of a client command that talks to the
// daemon, with its --socket flag.
func clientFlags(name string, stderr io.Writer) (fs *flag.FlagSet, socket *string) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket = fs.String("socket", config.DefaultControlSocket, "control socket of the daemon")
	return fs, socket
}
