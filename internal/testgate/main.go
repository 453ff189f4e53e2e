package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	allowPath := flag.String("allow", "", "allow-list of skips (PACKAGE TEST REASON per line); none: every skip fails the run")
	logPath := flag.String("log", "", "file to write the whole output to, as go test -v prints it")
	verbose := flag.Bool("v", false, "report passing tests and their log lines too")
	module := flag.String("module", "", "module path to trim from package names in the report")
	flag.Parse()
	os.Exit(run(os.Stdin, os.Stdout, *allowPath, *logPath, *verbose, *module))
}

// run judges the stream in and returns the exit status: 0 pass, 1 fail,
// 2 bad usage.
func run(in io.Reader, out io.Writer, allowPath, logPath string, verbose bool, module string) int {
	var allow []allowed
	if allowPath != "" {
		f, err := os.Open(allowPath)
		if err != nil {
			fmt.Fprintf(out, "testgate: %v\n", err)
			return 2
		}
		allow, err = parseAllowList(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(out, "testgate: %s: %v\n", allowPath, err)
			return 2
		}
	}
	log := io.Discard
	var logFile *os.File
	var logBuf *bufio.Writer
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			fmt.Fprintf(out, "testgate: %v\n", err)
			return 2
		}
		logFile, logBuf = f, bufio.NewWriter(f)
		log = logBuf
	}
	g := newGate(out, log, allow, verbose, module)
	if err := g.read(in); err != nil {
		g.problems = append(g.problems, err.Error())
	}
	if logFile != nil {
		err := logBuf.Flush()
		if cerr := logFile.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			g.problems = append(g.problems, fmt.Sprintf("writing %s: %v", logPath, err))
		}
	}
	ok := g.finish()
	if logPath != "" {
		fmt.Fprintf(out, "testgate: full log: %s\n", logPath)
	}
	if !ok {
		return 1
	}
	return 0
}
