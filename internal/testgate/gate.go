package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus
// the build events of go 1.24 and later).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output, build-fail
	Test       string
	Elapsed    float64
	Output     string
}

// testKey names one test of one package.
type testKey struct{ pkg, test string }

// gate follows one run. It is used by one goroutine.
type gate struct {
	out     io.Writer // the condensed report
	log     io.Writer // everything, as go test -v prints it
	allow   []allowed
	verbose bool
	module  string // trimmed from package paths in the report; may be empty

	output   map[testKey]*strings.Builder // output of tests (and packages: test "") not yet ended
	running  map[testKey]bool             // started and not ended
	build    map[string]*strings.Builder  // build output by import path
	packages int

	passed, failed, skipped, allowedSkips int
	badSkips                              []string
	problems                              []string // failures other than tests': builds, packages, unfinished
}

func newGate(out, log io.Writer, allow []allowed, verbose bool, module string) *gate {
	return &gate{
		out: out, log: log, allow: allow, verbose: verbose, module: module,
		output:  map[testKey]*strings.Builder{},
		running: map[testKey]bool{},
		build:   map[string]*strings.Builder{},
	}
}

// read consumes the stream until EOF.
func (g *gate) read(r io.Reader) error {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			g.line(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading go test output: %w", err)
		}
	}
}

func (g *gate) line(line string) {
	var e event
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil || e.Action == "" {
		// Not an event: the go command's own output.
		io.WriteString(g.log, line)
		io.WriteString(g.out, line)
		return
	}
	g.event(e)
}

func (g *gate) buf(k testKey) *strings.Builder {
	b := g.output[k]
	if b == nil {
		b = &strings.Builder{}
		g.output[k] = b
	}
	return b
}

func (g *gate) event(e event) {
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		io.WriteString(g.log, e.Output)
		b := g.build[e.ImportPath]
		if b == nil {
			b = &strings.Builder{}
			g.build[e.ImportPath] = b
		}
		b.WriteString(e.Output)
	case "build-fail":
		g.problems = append(g.problems, "build failed: "+e.ImportPath)
		fmt.Fprintf(g.out, "--- BUILD FAILED: %s\n", e.ImportPath)
		if b := g.build[e.ImportPath]; b != nil {
			g.print(b.String(), "    ")
		}
		delete(g.build, e.ImportPath)
	case "start":
		g.packages++
		g.running[k] = true
	case "run":
		g.running[k] = true
	case "output":
		io.WriteString(g.log, e.Output)
		g.buf(k).WriteString(e.Output)
	case "pass", "fail", "skip":
		if e.Test == "" {
			g.endPackage(e)
		} else {
			g.endTest(e)
		}
		delete(g.running, k)
		delete(g.output, k)
	}
}

func (g *gate) endTest(e event) {
	k := testKey{e.Package, e.Test}
	out := ""
	if b := g.output[k]; b != nil {
		out = b.String()
	}
	where := fmt.Sprintf("%s (%.2fs) [%s]", e.Test, e.Elapsed, g.short(e.Package))
	switch e.Action {
	case "pass":
		g.passed++
		if g.verbose {
			fmt.Fprintf(g.out, "--- PASS: %s\n", where)
			g.print(testLines(out), "")
		}
	case "fail":
		g.failed++
		fmt.Fprintf(g.out, "--- FAIL: %s\n", where)
		g.print(testLines(out), "")
	case "skip":
		g.skipped++
		verdict := "NOT ALLOWED: not on the allow-list of skips"
		if a := lookup(g.allow, e.Package, e.Test); a != nil {
			g.allowedSkips++
			verdict = "allowed: " + a.reason
		} else {
			g.badSkips = append(g.badSkips, g.short(e.Package)+" "+e.Test)
		}
		fmt.Fprintf(g.out, "--- SKIP: %s (%s)\n", where, verdict)
		g.print(testLines(out), "")
	}
}

func (g *gate) endPackage(e event) {
	k := testKey{e.Package, ""}
	out := ""
	if b := g.output[k]; b != nil {
		out = b.String()
	}
	switch e.Action {
	case "pass":
		fmt.Fprintf(g.out, "ok   %s %.2fs\n", e.Package, e.Elapsed)
	case "skip":
		fmt.Fprintf(g.out, "?    %s [no test files]\n", e.Package)
	case "fail":
		g.problems = append(g.problems, "package failed: "+e.Package)
		fmt.Fprintf(g.out, "FAIL %s %.2fs\n", e.Package, e.Elapsed)
		// What the package printed outside its tests: a panic, a
		// timeout, TestMain's messages, "[build failed]".
		g.print(out, "    ")
		// Tests of the package still running when it ended (a panic or
		// a timeout kills them): say which.
		for rk := range g.running {
			if rk.pkg == e.Package && rk.test != "" {
				g.problems = append(g.problems, fmt.Sprintf("%s %s did not finish", g.short(e.Package), rk.test))
				fmt.Fprintf(g.out, "--- DID NOT FINISH: %s [%s]\n", rk.test, g.short(e.Package))
				if b := g.output[rk]; b != nil {
					g.print(testLines(b.String()), "")
				}
				delete(g.running, rk)
				delete(g.output, rk)
			}
		}
	}
}

// testLines drops the lines go test prints around a test's own output
// (=== RUN, === PAUSE, === CONT, --- PASS, ...): the report prints its own
// verdict line.
func testLines(out string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(out, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- PASS: ") ||
			strings.HasPrefix(t, "--- FAIL: ") || strings.HasPrefix(t, "--- SKIP: ") {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}

func (g *gate) print(s, indent string) {
	for _, l := range strings.SplitAfter(s, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		io.WriteString(g.out, indent+l)
	}
}

func (g *gate) short(pkg string) string {
	if g.module != "" {
		if rel, ok := strings.CutPrefix(pkg, g.module+"/"); ok {
			return rel
		}
	}
	return pkg
}

// finish ends the run after EOF: it reports what never ended and the
// summary, and returns whether the run passed.
func (g *gate) finish() bool {
	var unfinished []string
	for k := range g.running {
		if k.test == "" {
			unfinished = append(unfinished, g.short(k.pkg)+" (package)")
		} else {
			unfinished = append(unfinished, g.short(k.pkg)+" "+k.test)
		}
	}
	slices.Sort(unfinished)
	for _, u := range unfinished {
		g.problems = append(g.problems, u+" started and never ended")
		fmt.Fprintf(g.out, "--- DID NOT FINISH: %s\n", u)
	}
	if g.packages == 0 {
		g.problems = append(g.problems, "no package was tested: the input holds no go test -json events")
	}
	fmt.Fprintf(g.out, "\ntestgate: %d packages, %d tests passed, %d failed, %d skipped (%d allowed)\n",
		g.packages, g.passed, g.failed, g.skipped, g.allowedSkips)
	for _, p := range g.problems {
		fmt.Fprintf(g.out, "testgate: %s\n", p)
	}
	for _, s := range g.badSkips {
		fmt.Fprintf(g.out, "testgate: %s skipped and is not on the allow-list: make it run here, or list it with its reason\n", s)
	}
	ok := g.failed == 0 && len(g.problems) == 0 && len(g.badSkips) == 0
	if ok {
		fmt.Fprintf(g.out, "testgate: PASS\n")
	} else {
		fmt.Fprintf(g.out, "testgate: FAIL\n")
	}
	return ok
}
