package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// cmdStatus asks the running daemon for its state and prints it as
// tables, or with --json as the daemon sent it.
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs, socket := clientFlags("status", stderr)
	asJSON := fs.Bool("json", false, "print the status as one JSON object")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var raw json.RawMessage
	if err := control.Call(*socket, control.Request{Command: "status"}, &raw, 5*time.Second); err != nil {
		fmt.Fprintf(stderr, "rmqlb status: %v\n", err)
		return 1
	}
	if *asJSON {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			fmt.Fprintf(stderr, "rmqlb status: %v\n", err)
			return 1
		}
		buf.WriteByte('\n')
		stdout.Write(buf.Bytes())
		return 0
	}
	var s control.Status
	if err := json.Unmarshal(raw, &s); err != nil {
		fmt.Fprintf(stderr, "rmqlb status: decoding status: %v\n", err)
		return 1
	}
	if err := control.Format(stdout, s, control.FormatOptions{}); err != nil {
		fmt.Fprintf(stderr, "rmqlb status: %v\n", err)
		return 1
	}
	return 0
}

// cmdBackend sets a backend's operator state: drain, maint or ready.
func cmdBackend(args []string, stdout, stderr io.Writer) int {
	fs, socket := clientFlags("backend", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: rmqlb backend [--socket PATH] LISTENER/BACKEND drain|maint|ready")
		return 2
	}
	if err := control.Call(*socket, control.Request{Command: "backend", Args: fs.Args()}, nil, 5*time.Second); err != nil {
		fmt.Fprintf(stderr, "rmqlb backend: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s\n", fs.Arg(0), fs.Arg(1))
	return 0
}
