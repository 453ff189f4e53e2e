package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stream renders events as go test -json lines.
func stream(t *testing.T, evs ...event) string {
	t.Helper()
	var b strings.Builder
	for _, e := range evs {
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

const pkgA = "example.com/m/a"

// passing is a package with one passing test that logs a figure.
func passing(pkg, test string) []event {
	return []event{
		{Action: "start", Package: pkg},
		{Action: "run", Package: pkg, Test: test},
		{Action: "output", Package: pkg, Test: test, Output: "=== RUN   " + test + "\n"},
		{Action: "output", Package: pkg, Test: test, Output: "    a_test.go:10: outage 42ms (bound 500ms)\n"},
		{Action: "output", Package: pkg, Test: test, Output: "--- PASS: " + test + " (0.10s)\n"},
		{Action: "pass", Package: pkg, Test: test, Elapsed: 0.1},
		{Action: "output", Package: pkg, Output: "PASS\n"},
		{Action: "output", Package: pkg, Output: "ok  \t" + pkg + "\t0.2s\n"},
		{Action: "pass", Package: pkg, Elapsed: 0.2},
	}
}

// skipping is a package whose only test skips.
func skipping(pkg, test, reason string) []event {
	return []event{
		{Action: "start", Package: pkg},
		{Action: "run", Package: pkg, Test: test},
		{Action: "output", Package: pkg, Test: test, Output: "=== RUN   " + test + "\n"},
		{Action: "output", Package: pkg, Test: test, Output: "    lab.go:117: " + reason + "\n"},
		{Action: "output", Package: pkg, Test: test, Output: "--- SKIP: " + test + " (0.00s)\n"},
		{Action: "skip", Package: pkg, Test: test},
		{Action: "output", Package: pkg, Output: "ok  \t" + pkg + "\t0.0s\n"},
		{Action: "pass", Package: pkg},
	}
}

func gateRun(t *testing.T, in string, allow []allowed, verbose bool) (bool, string, string) {
	t.Helper()
	var out, log strings.Builder
	g := newGate(&out, &log, allow, verbose, "example.com/m")
	if err := g.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	ok := g.finish()
	return ok, out.String(), log.String()
}

func TestGate(t *testing.T) {
	allowB := []allowed{{pkg: "b", test: "TestHelper", reason: "helper process of TestKill"}}
	tests := []struct {
		name    string
		in      []event
		raw     string // non-JSON lines appended to the stream
		verbose bool
		wantOK  bool
		want    []string // in the report
		notWant []string
	}{
		{
			name: "passing test, quiet", in: passing(pkgA, "TestA"), wantOK: true,
			want:    []string{"ok   example.com/m/a 0.20s", "1 tests passed, 0 failed, 0 skipped", "testgate: PASS"},
			notWant: []string{"TestA", "outage"},
		},
		{
			name: "passing test, verbose: its figures are reported", in: passing(pkgA, "TestA"), verbose: true, wantOK: true,
			want:    []string{"--- PASS: TestA (0.10s) [a]", "    a_test.go:10: outage 42ms (bound 500ms)"},
			notWant: []string{"=== RUN"},
		},
		{
			name: "skip not on the list fails the run", in: skipping(pkgA, "TestNetns", "netlab needs bridge: not found"), wantOK: false,
			want: []string{
				"--- SKIP: TestNetns (0.00s) [a] (NOT ALLOWED: not on the allow-list of skips)",
				"    lab.go:117: netlab needs bridge: not found",
				"testgate: a TestNetns skipped and is not on the allow-list",
				"testgate: FAIL",
			},
		},
		{
			name: "skip on the list passes", in: skipping("example.com/m/b", "TestHelper", "helper"), wantOK: true,
			want: []string{"--- SKIP: TestHelper (0.00s) [b] (allowed: helper process of TestKill)", "1 skipped (1 allowed)", "testgate: PASS"},
		},
		{
			name: "the list names the package too", in: skipping(pkgA, "TestHelper", "helper"), wantOK: false,
			want: []string{"NOT ALLOWED"},
		},
		{
			name: "skipped subtest of a passing test", wantOK: false,
			in: []event{
				{Action: "start", Package: pkgA},
				{Action: "run", Package: pkgA, Test: "TestX"},
				{Action: "run", Package: pkgA, Test: "TestX/v6"},
				{Action: "output", Package: pkgA, Test: "TestX/v6", Output: "    x_test.go:5: no IPv6 loopback\n"},
				{Action: "skip", Package: pkgA, Test: "TestX/v6"},
				{Action: "pass", Package: pkgA, Test: "TestX"},
				{Action: "pass", Package: pkgA},
			},
			want: []string{"--- SKIP: TestX/v6", "no IPv6 loopback", "testgate: FAIL"},
		},
		{
			name: "failing test: its output is reported", wantOK: false,
			in: []event{
				{Action: "start", Package: pkgA},
				{Action: "run", Package: pkgA, Test: "TestF"},
				{Action: "output", Package: pkgA, Test: "TestF", Output: "    f_test.go:9: outage 900ms, want <= 500ms\n"},
				{Action: "output", Package: pkgA, Test: "TestF", Output: "--- FAIL: TestF (1.00s)\n"},
				{Action: "fail", Package: pkgA, Test: "TestF", Elapsed: 1},
				{Action: "output", Package: pkgA, Output: "FAIL\n"},
				{Action: "fail", Package: pkgA, Elapsed: 1.1},
			},
			want: []string{"--- FAIL: TestF (1.00s) [a]", "    f_test.go:9: outage 900ms, want <= 500ms", "FAIL example.com/m/a 1.10s", "1 failed", "testgate: FAIL"},
		},
		{
			name: "panic: the running test did not finish", wantOK: false,
			in: []event{
				{Action: "start", Package: pkgA},
				{Action: "run", Package: pkgA, Test: "TestP"},
				{Action: "output", Package: pkgA, Test: "TestP", Output: "    p_test.go:3: about to crash\n"},
				{Action: "output", Package: pkgA, Output: "panic: runtime error: index out of range\n"},
				{Action: "fail", Package: pkgA, Elapsed: 0.3},
			},
			want: []string{"FAIL example.com/m/a", "    panic: runtime error: index out of range", "--- DID NOT FINISH: TestP [a]", "about to crash", "testgate: FAIL"},
		},
		{
			name: "stream cut short", wantOK: false,
			in: []event{
				{Action: "start", Package: pkgA},
				{Action: "run", Package: pkgA, Test: "TestLong"},
			},
			want: []string{"--- DID NOT FINISH: a (package)", "--- DID NOT FINISH: a TestLong", "testgate: FAIL"},
		},
		{
			name: "build failure", wantOK: false,
			in: []event{
				{Action: "build-output", ImportPath: pkgA + " [" + pkgA + ".test]", Output: "# example.com/m/a\n"},
				{Action: "build-output", ImportPath: pkgA + " [" + pkgA + ".test]", Output: "a.go:3:2: undefined: x\n"},
				{Action: "build-fail", ImportPath: pkgA + " [" + pkgA + ".test]"},
				{Action: "start", Package: pkgA},
				{Action: "output", Package: pkgA, Output: "FAIL\texample.com/m/a [build failed]\n"},
				{Action: "fail", Package: pkgA},
			},
			want: []string{"--- BUILD FAILED: example.com/m/a", "    a.go:3:2: undefined: x", "testgate: build failed", "testgate: FAIL"},
		},
		{
			name: "nothing at all", raw: "go: no packages to test\n", wantOK: false,
			want: []string{"go: no packages to test", "no package was tested", "testgate: FAIL"},
		},
		{
			name: "package without tests", wantOK: true,
			in: append([]event{
				{Action: "start", Package: "example.com/m/doc"},
				{Action: "output", Package: "example.com/m/doc", Output: "?   \texample.com/m/doc\t[no test files]\n"},
				{Action: "skip", Package: "example.com/m/doc"},
			}, passing(pkgA, "TestA")...),
			want: []string{"?    example.com/m/doc [no test files]", "2 packages", "testgate: PASS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, out, log := gateRun(t, stream(t, tt.in...)+tt.raw, allowB, tt.verbose)
			if ok != tt.wantOK {
				t.Errorf("pass = %v, want %v; report:\n%s", ok, tt.wantOK, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("report has %q:\n%s", w, out)
				}
			}
			// The log holds every output line, as go test -v prints it.
			for _, e := range tt.in {
				if e.Output != "" && !strings.Contains(log, e.Output) {
					t.Errorf("log lacks %q", e.Output)
				}
			}
			if tt.raw != "" && !strings.Contains(log, tt.raw) {
				t.Errorf("log lacks the raw line %q", tt.raw)
			}
		})
	}
}

func TestParseAllowList(t *testing.T) {
	list, err := parseAllowList(strings.NewReader(`# comment

netsetup TestHoldVIPsHelper  helper process: skips unless run by TestSIGKILLNetns
integration TestX/sub reason
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].reason != "helper process: skips unless run by TestSIGKILLNetns" || list[1].test != "TestX/sub" {
		t.Fatalf("list = %+v", list)
	}
	if a := lookup(list, "github.com/rmqlb/rmqlb/netsetup", "TestHoldVIPsHelper"); a == nil {
		t.Error("lookup by module-relative path failed")
	}
	if a := lookup(list, "github.com/rmqlb/rmqlb/xnetsetup", "TestHoldVIPsHelper"); a != nil {
		t.Error("lookup matched a package that only ends like the entry")
	}
	for _, bad := range []string{
		"netsetup TestHoldVIPsHelper\n",                 // no reason
		"netsetup TestA reason\nnetsetup TestA again\n", // twice
	} {
		if _, err := parseAllowList(strings.NewReader(bad)); err == nil {
			t.Errorf("parseAllowList(%q): no error", bad)
		}
	}
}

// TestRealGoTest runs go test -json on a small module with a passing, a
// failing, an allowed and a forbidden skip, and judges it with run: the
// gate must understand the stream of the go command in use.
func TestRealGoTest(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/fixture\n\ngo 1.26\n",
		"a/a_test.go": `package a

import "testing"

func TestPass(t *testing.T) { t.Log("figure 42ms") }
func TestAllowedSkip(t *testing.T) { t.Skip("helper only") }
func TestOtherSkip(t *testing.T) { t.Skip("needs a tool this machine lacks") }
`,
		"b/b_test.go": `package b

import "testing"

func TestFail(t *testing.T) { t.Error("bound exceeded") }
`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	allow := filepath.Join(dir, "allowed-skips")
	if err := os.WriteFile(allow, []byte("a TestAllowedSkip helper process\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goTest := func(pkgs ...string) string {
		cmd := exec.Command("go", append([]string{"test", "-count=1", "-json"}, pkgs...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		out, _ := cmd.CombinedOutput() // b fails: go test exits 1
		return string(out)
	}
	logPath := filepath.Join(dir, "test.log")

	in := goTest("./a", "./b")
	var out strings.Builder
	if code := run(strings.NewReader(in), &out, allow, logPath, true, "example.com/fixture"); code != 1 {
		t.Errorf("exit %d, want 1; report:\n%s", code, out.String())
	}
	for _, w := range []string{
		"--- PASS: TestPass", "figure 42ms",
		"--- SKIP: TestAllowedSkip", "allowed: helper process",
		"--- SKIP: TestOtherSkip", "NOT ALLOWED", "needs a tool this machine lacks",
		"--- FAIL: TestFail", "bound exceeded", "FAIL example.com/fixture/b",
		"2 packages, 1 tests passed, 1 failed, 2 skipped (1 allowed)",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, out.String())
		}
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"=== RUN   TestPass", "figure 42ms", "--- FAIL: TestFail"} {
		if !strings.Contains(string(log), w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}

	// Only the passing test and the allowed skip: the run passes.
	out.Reset()
	in = goTest("-run", "TestPass|TestAllowedSkip", "./a")
	if code := run(strings.NewReader(in), &out, allow, logPath, false, ""); code != 0 {
		t.Errorf("exit %d, want 0; report:\n%s", code, out.String())
	}
}
