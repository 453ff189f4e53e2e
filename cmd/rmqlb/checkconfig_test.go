package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/daemon"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// TestCheckConfigChecks: check-config --checks runs each backend's check once and prints a line
// per check; it exits 1 when one failed, 0 when all passed, and 1 without running any check for
// a file that does not validate.
func TestCheckConfigChecks(t *testing.T) {
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	go func() {
		for {
			c, err := open.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := gone.Addr().String()
	gone.Close()
	dir := t.TempDir()
	write := func(name string, backends ...string) string {
		p := filepath.Join(dir, name)
		text := "listeners:\n  - name: amqp\n    bind: 127.0.0.1:1\n    check: {type: tcp, timeout: 300ms}\n    backends:\n"
		for i, b := range backends {
			text += fmt.Sprintf("      - {name: b%d, address: %s}\n", i+1, b)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var out, errb bytes.Buffer
	mixed := write("mixed.yaml", open.Addr().String(), closed)
	if code := run([]string{"check-config", "--checks", "--config", mixed}, &out, &errb); code != 1 {
		t.Errorf("one check failing: exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	t.Logf("\n%s%s", out.String(), errb.String())
	for _, re := range []string{
		`(?m)^` + regexp.QuoteMeta(mixed) + `: ok$`,
		`(?m)^CHECK +KIND +ADDRESS +TOOK +RESULT$`,
		`(?m)^amqp/b1 +tcp +` + regexp.QuoteMeta(open.Addr().String()) + ` +\S+ +ok: TCP connect$`,
		`(?m)^amqp/b2 +tcp +` + regexp.QuoteMeta(closed) + ` +\S+ +FAILED: connecting to .*connection refused`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("stdout does not match %s:\n%s", re, out.String())
		}
	}
	if !strings.Contains(errb.String(), "1 of 2 checks did not pass cleanly") {
		t.Errorf("stderr %q, want the count", errb.String())
	}

	out.Reset()
	errb.Reset()
	good := write("good.yaml", open.Addr().String())
	if code := run([]string{"check-config", "--checks", "--config", good}, &out, &errb); code != 0 || errb.Len() != 0 {
		t.Errorf("every check passing: exit %d, want 0\n%s%s", code, out.String(), errb.String())
	}

	out.Reset()
	errb.Reset()
	bad := write("bad.yaml", "nowhere")
	if code := run([]string{"check-config", "--checks", "--config", bad}, &out, &errb); code != 1 || strings.Contains(out.String(), "CHECK") {
		t.Errorf("invalid file: exit %d, want 1 and no check run\n%s%s", code, out.String(), errb.String())
	}
}

// TestCheckConfigStateFile: check-config says what a start would make of
// the file's state file: none yet, the operator's states it restores and
// leaves out, or a warning for a file it could not read; the exit status
// stays the file's.
func TestCheckConfigStateFile(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	path := filepath.Join(dir, "rmqlb.yaml")
	text := "state_file: " + state + "\nlisteners:\n  - name: amqp\n    bind: 127.0.0.1:1\n    check: {type: tcp}\n    backends:\n      - {name: b1, address: 127.0.0.2:5672}\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, state string
		out, err    []string
	}{
		{"none yet", "", []string{"state file " + state + ": none yet: a start begins without operator states and writes it\n"}, nil},
		{"states", `{"version": 1, "saved": "2026-12-04T14:00:00Z", "backends": [
			{"listener": "amqp", "backend": "b1", "admin": "maint"}, {"listener": "amqp", "backend": "b2", "admin": "drain"}]}`,
			[]string{"a start restores 1 of the operator's states in it and leaves out 1\n", "  restores   amqp/b1 maint\n", "  leaves out amqp/b2 drain: no such backend in the configuration\n"}, nil},
		{"a newer version's", `{"version": 1, "saved": "2026-12-04T14:00:00Z", "backends": [
			{"listener": "amqp", "backend": "b1", "admin": "maint", "note": "disk swap"}, {"listener": "amqp", "backend": "b1", "admin": "soft-drain"}], "hosts": []}`,
			[]string{"a start restores 1 of the operator's states in it and leaves out 1\n", "  restores   amqp/b1 maint\n",
				"  leaves out backends[1]: amqp/b1: admin \"soft-drain\", want drain or maint: not one this version could have written\n",
				"  ignores    backends[0].note: a field this version does not know (written by a newer one?), kept in the file while its entry is unchanged\n",
				"  ignores    hosts: a field"}, nil},
		{"broken", "{", nil, []string{"warning: state file " + state + ": reading state: unexpected EOF: a start would not restore the operator's states in it\n"}},
	} {
		if c.state != "" {
			if err := os.WriteFile(state, []byte(c.state), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var out, errb bytes.Buffer
		if code := run([]string{"check-config", "--config", path}, &out, &errb); code != 0 {
			t.Errorf("%s: exit %d, want 0\n%s%s", c.name, code, out.String(), errb.String())
		}
		for _, w := range c.out {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: stdout lacks %q:\n%s", c.name, w, out.String())
			}
		}
		for _, w := range c.err {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%s: stderr lacks %q:\n%s", c.name, w, errb.String())
			}
		}
	}
}

// TestCheckConfigClientListFiles: check-config says how many addresses
// each listener's list holds and how many its file gave, an empty denied
// file too; a listener without a file gets no line.
func TestCheckConfigClientListFiles(t *testing.T) {
	dir := t.TempDir()
	allowed, denied := filepath.Join(dir, "allow.lst"), filepath.Join(dir, "deny.lst")
	for p, data := range map[string]string{allowed: "# offices\n10.1.0.0/16\n10.2.0.0/16\n", denied: "# nobody yet\n"} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "rmqlb.yaml")
	text := "listeners:\n" +
		"  - name: amqp\n    bind: 127.0.0.1:1\n    allowed_clients: [127.0.0.0/8]\n    allowed_clients_file: " + allowed + "\n    denied_clients_file: " + denied + "\n" +
		"    backends:\n      - {name: b1, address: 127.0.0.2:5672}\n" +
		"  - name: other\n    bind: 127.0.0.1:2\n    allowed_clients: [127.0.0.0/8]\n    backends:\n      - {name: b1, address: 127.0.0.2:5672}\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", "--config", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out.String(), errb.String())
	}
	want := path + ": ok\n" +
		"listener amqp allows 3 client addresses or prefixes, 2 of them from " + allowed + "\n" +
		"listener amqp denies 0 client addresses or prefixes, 0 of them from " + denied + "\n"
	if out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestPrintChecksCertificates: a check's TLS certificate that expires within 30 days gets a
// note on its line, and does not fail check-config; one expiring later gets none.
func TestPrintChecksCertificates(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	results := []daemon.OnceResult{
		{Backend: backend.ID{Listener: "amqp", Name: "rmq1"}, Kind: "amqp handshake, tls", Address: netip.MustParseAddrPort("10.0.0.1:5671"), Result: healthcheck.Result{Info: "RabbitMQ 4.0.5",
			Certificates: []healthcheck.Certificate{
				{Role: healthcheck.CertBroker, Subject: "CN=rmq1", NotAfter: now.Add(12 * 24 * time.Hour)},
				{Role: healthcheck.CertClient, Subject: "CN=rmqlb-check", NotAfter: now.Add(400 * 24 * time.Hour)},
			}}},
		{Backend: backend.ID{Listener: "amqp", Name: "rmq2"}, Kind: "amqp handshake, tls", Address: netip.MustParseAddrPort("10.0.0.2:5671"), Result: healthcheck.Result{Info: "RabbitMQ 4.0.5",
			Certificates: []healthcheck.Certificate{{Role: healthcheck.CertBroker, Subject: "CN=rmq2", NotAfter: now.Add(90 * 24 * time.Hour)}}}},
	}
	var out, errb bytes.Buffer
	if code := printChecks(results, now, &out, &errb); code != 0 || errb.Len() != 0 {
		t.Errorf("exit %d, want 0\n%s%s", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", out.String())
	}
	if want := "ok: RabbitMQ 4.0.5 [certificate expires in 12d (2026-12-18 12:00 UTC): broker CN=rmq1]"; !strings.HasSuffix(lines[1], want) {
		t.Errorf("rmq1's line %q, want it to end in %q", lines[1], want)
	}
	if !strings.HasSuffix(lines[2], "ok: RabbitMQ 4.0.5") {
		t.Errorf("rmq2's line %q, want no note", lines[2])
	}
}

// TestPrintChecksRefusedAlone: a login refused on one backend while it
// passed on others says so on its line, and fails check-config as any
// warning does.
func TestPrintChecksRefusedAlone(t *testing.T) {
	rmq1, rmq2, rmq3 := backend.ID{Listener: "amqp", Name: "rmq1"}, backend.ID{Listener: "amqp", Name: "rmq2"}, backend.ID{Listener: "amqp", Name: "rmq3"}
	results := []daemon.OnceResult{
		{Backend: rmq1, Kind: "amqp login", Address: netip.MustParseAddrPort("10.0.0.1:5672"), Result: healthcheck.Result{Info: "RabbitMQ 4.0.5"}},
		{Backend: rmq2, Kind: "amqp login", Address: netip.MustParseAddrPort("10.0.0.2:5672"), Result: healthcheck.Result{Info: "RabbitMQ 4.0.5",
			Warning: "login refused: 403 ACCESS_REFUSED", Refused: true}, PassedElsewhere: []backend.ID{rmq1, rmq3}},
		{Backend: rmq3, Kind: "amqp login", Address: netip.MustParseAddrPort("10.0.0.3:5672"), Result: healthcheck.Result{Info: "RabbitMQ 4.0.5"}},
	}
	var out, errb bytes.Buffer
	if code := printChecks(results, time.Now(), &out, &errb); code != 1 {
		t.Errorf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if want := "warning: login refused: 403 ACCESS_REFUSED [refused by this node alone: the same login passed on amqp/rmq1, amqp/rmq3]"; len(lines) != 4 || !strings.HasSuffix(lines[2], want) {
		t.Errorf("output:\n%s\nwant rmq2's line to end in %q", out.String(), want)
	}
}

// TestCheckConfigFileOperand: the file may be named alone, after the
// flags or before them; named twice, or two files, or an empty name, is a
// wrong command line that says so.
func TestCheckConfigFileOperand(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("listeners:\n  - name: amqp\n    bind: 127.0.0.1:1\n    backends:\n      - {name: b1, address: 127.0.0.2:5672, check: {type: none}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("listeners:\n  - name: amqp\n    bind: nowhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args      []string
		code      int
		out, errs string // stdout, and the first line of stderr
	}{
		{[]string{good}, 0, good + ": ok\n", ""},
		{[]string{good, "--checks"}, 0, good + ": ok\nno backend has a check\n", ""},
		{[]string{"--checks", good}, 0, good + ": ok\nno backend has a check\n", ""},
		{[]string{"--config", good}, 0, good + ": ok\n", ""},
		{[]string{bad}, 1, "", bad + ":2: listeners[0].backends: needs at least one backend"},
		{[]string{good, bad}, 2, "", `rmqlb check-config: unexpected argument "` + bad + `": check one FILE at a time`},
		{[]string{"--config", good, bad}, 2, "", `rmqlb check-config: unexpected argument "` + bad + `": name the FILE once, with --config or alone`},
		{[]string{""}, 2, "", "rmqlb check-config: an empty FILE"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"check-config"}, tc.args...), &out, &errb)
		first, _, _ := strings.Cut(errb.String(), "\n")
		if code != tc.code || out.String() != tc.out || !strings.HasPrefix(first, tc.errs) || (tc.errs == "" && first != "") {
			t.Errorf("check-config %q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out.String(), errb.String(), tc.code, tc.out, tc.errs)
		}
	}
}
