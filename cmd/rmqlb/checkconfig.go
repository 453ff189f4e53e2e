package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rmqlb/rmqlb/config"
)

// defineCheckConfig is rmqlb check-config.
func defineCheckConfig(fs *flag.FlagSet) runFunc {
	path := fs.String("config", defaultConfig, "the configuration `FILE` to check")
	return func(args []string, stdout, stderr io.Writer) int {
		if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
			return code
		}
		return cmdCheckConfig(*path, stdout, stderr)
	}
}

// cmdCheckConfig validates a file: exit 0, or 1 with one line per problem.
func cmdCheckConfig(path string, stdout, stderr io.Writer) int {
	c, err := config.Load(path)
	if err == nil {
		for _, w := range c.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
		fmt.Fprintf(stdout, "%s: ok\n", path)
		return 0
	}
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintf(stderr, "%s:%s\n", path, trimLine(e))
		}
		return 1
	}
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	return 1
}

// trimLine formats a FieldError as "LINE: field: msg" (compiler style).
func trimLine(e config.FieldError) string {
	if e.Line > 0 {
		e2 := e
		e2.Line = 0
		return fmt.Sprintf("%d: %s", e.Line, e2.Error())
	}
	return " " + e.Error()
}
