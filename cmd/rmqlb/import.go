package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/migrate"
)

// defineImport is rmqlb import.
func defineImport(fs *flag.FlagSet) runFunc {
	var src migrate.Sources
	fs.StringVar(&src.Keepalived, "keepalived", "", "the keepalived.conf `FILE`: VRRP instances, virtual servers, check scripts (and the files it includes)")
	fs.StringVar(&src.HAProxy, "haproxy", "", "the haproxy.cfg `FILE`: TCP listen sections, frontends and backends")
	fs.StringVar(&src.IPVSAdm, "ipvsadm", "", "a `FILE` holding the output of ipvsadm -Sn: an LVS table set by hand")
	return func(args []string, stdout, stderr io.Writer) int {
		if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
			return code
		}
		if src == (migrate.Sources{}) {
			return usageError(fs, stderr, "give at least one of --keepalived, --haproxy and --ipvsadm")
		}
		return cmdImport(src, stdout, stderr)
	}
}

// cmdImport translates keepalived, HAProxy and ipvsadm files into an rmqlb
// configuration file: the file on stdout, what was not translated (file,
// line and why) on stderr, then the warnings of the file written that
// hold on any host (config.ParseWithFiles', the list files it names read
// from this host) and those of this host: its notify hooks
// (config.Config.HookWarnings) and the files it names that the packaged
// daemon's user could not read (config.Config.UnreadableWarnings). Exit 0
// with a valid file (even when directives were not translated or it has
// warnings), 1 when an input cannot be read or the file written would not
// validate.
func cmdImport(src migrate.Sources, stdout, stderr io.Writer) int {
	r, err := migrate.Import(src, migrate.OSFiles{})
	if err != nil {
		fmt.Fprintf(stderr, "rmqlb import: %v\n", err)
		return 1
	}
	skipped := 0
	for _, n := range r.Notes {
		fmt.Fprintln(stderr, n)
		if n.Kind == migrate.NotTranslated {
			skipped++
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(stderr, "rmqlb import: %d directives not translated, %d translated with a note (above)\n", skipped, len(r.Notes)-skipped)
	}
	// The list files the file names are this host's, which the import
	// read.
	c, err := config.ParseWithFiles(r.YAML, nil)
	if err != nil {
		fmt.Fprintln(stderr, "rmqlb import: the file written does not validate, so it is not printed:")
		var es config.Errors
		if !errors.As(err, &es) {
			fmt.Fprintf(stderr, "  %v\n", err)
			return 1
		}
		for _, e := range es {
			fmt.Fprintf(stderr, "  %s\n", trimLine(e))
		}
		return 1
	}
	// What check-config would say of the file on any host (the lines are
	// the file's).
	for _, w := range c.Warnings {
		fmt.Fprintf(stderr, "rmqlb import: warning: %s\n", w)
	}
	// The notify hooks and the list files as this host has them: an
	// import is often made on the host the file is for, whose keepalived
	// ran the scripts without the checks rmqlb makes, and whose HAProxy
	// read the list files as another user.
	for _, w := range append(c.HookWarnings(), c.UnreadableWarnings()...) {
		fmt.Fprintf(stderr, "rmqlb import: warning on this host: %s\n", w)
	}
	if _, err := stdout.Write(r.YAML); err != nil {
		fmt.Fprintf(stderr, "rmqlb import: writing the file: %v\n", err)
		return 1
	}
	return 0
}
