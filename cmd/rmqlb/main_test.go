package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("listeners: [{name: l, bind: 10.0.0.1:5672, backends: [{name: a, address: 10.0.0.2:5672}]}]\n"), 0o644)
	os.WriteFile(bad, []byte("vrrp_instances:\n  - name: v\n    interface: eth0\n    virtual_router_id: 0\n    virtual_ipaddress: [x]\n"), 0o644)

	var out, errb bytes.Buffer
	if code := run([]string{"check-config", "--config", good}, &out, &errb); code != 0 {
		t.Fatalf("good config: exit %d, stderr %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"check-config", "--config", bad}, &out, &errb); code != 1 {
		t.Fatalf("bad config: exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	want := []string{
		bad + ":4: vrrp_instances[0].virtual_router_id: must be 1..255, not 0",
		bad + ":5: vrrp_instances[0].virtual_ipaddress[0]: must be an address or address/prefix-length, not \"x\"",
	}
	if len(lines) != len(want) {
		t.Fatalf("stderr:\n%s\nwant %d lines", errb.String(), len(want))
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
	if code := run([]string{"check-config", "--config", filepath.Join(dir, "missing.yaml")}, &out, &errb); code != 1 {
		t.Errorf("missing file: exit %d, want 1", code)
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "rmqlb ") {
		t.Errorf("version: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code := run([]string{"status", "--socket", filepath.Join(t.TempDir(), "none.sock")}, &out, &errb); code != 2 {
		t.Errorf("status without daemon: exit %d, want 2", code)
	}
}

// TestClientUsage: a wrong command line of a client command exits 2
// without asking any daemon (the socket named does not exist, so an
// attempt would show in the message).
func TestClientUsage(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "none.sock")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listeners: [{name: l, bind: nowhere\n"), 0o600) // not even YAML
	for _, c := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"status", "--socket", sock, "extra"}, `unexpected argument "extra"`},
		{[]string{"status", "--socket", sock, "--watch", "1s", "2s"}, `unexpected argument "2s"`},
		{[]string{"status", "--socket", sock, "--watch=fast"}, `parsing watch interval "fast"`},
		{[]string{"status", "--socket", sock, "--watch", "10ms"}, "shorter than 100ms"},
		{[]string{"status", "--socket", sock, "--frobnicate"}, "flag provided but not defined"},
		{[]string{"status", "--socket", sock, "--config", bad}, "--socket and --config name the daemon twice"},
		{[]string{"status", "--config", bad}, "finding the control socket in " + bad},
		{[]string{"status", "--config", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"reload", "--config", bad}, "finding the control socket in " + bad},
		{[]string{"backend", "--config", bad, "amqp/a", "drain"}, "finding the control socket in " + bad},
		{[]string{"backend", "--socket", sock, "amqp/a"}, "rmqlb backend: name LISTENER/BACKEND and an operation\nusage: rmqlb backend"},
		{[]string{"backend", "--socket", sock, "amqp/a", "weight"}, "rmqlb backend: weight wants N (0..65535) or reset\nusage: rmqlb backend"},
		{[]string{"backend", "--socket", sock, "amqp/a", "weight", "5", "6"}, "rmqlb backend: weight wants N (0..65535) or reset"},
		{[]string{"backend", "--socket", sock, "amqp/a", "drain", "now"}, `rmqlb backend: unexpected argument "now"`},
		{[]string{"backend", "amqp/a", "drain", "now", "--socket", sock}, `rmqlb backend: unexpected argument "now"`},
		{[]string{"backend", "--socket", sock, "amqp/a", "shutdown-sessions", "all"}, `rmqlb backend: unexpected argument "all"`},
		{[]string{"backend", "--socket", sock, "amqp/a", "drian"}, `unknown operation "drian"`},
		{[]string{"backend", "amqp/a", "drain", "--rate", "5", "--socket", sock}, "--rate and --wait belong to move-sessions"},
		{[]string{"vrrp", "--socket", sock}, "rmqlb vrrp: name a subcommand: release or ready\nusage:"},
		{[]string{"vrrp", "flap", "vip", "--socket", sock}, `rmqlb vrrp: unknown subcommand "flap" (release, ready)`},
		{[]string{"vrrp", "release", "--socket", sock}, "rmqlb vrrp: name one VRRP instance, or --all for every one"},
		{[]string{"vrrp", "release", "a", "b", "--socket", sock}, "rmqlb vrrp: name one VRRP instance, or --all for every one"},
		{[]string{"vrrp", "release", "--all", "vip", "--socket", sock}, `rmqlb vrrp: --all is every instance: unexpected "vip"`},
		{[]string{"vrrp", "release", "vip", "--for", "-1m", "--socket", sock}, "rmqlb vrrp: --for must be a positive duration"},
		{[]string{"rebalance", "--socket", sock}, "rmqlb rebalance: name a LISTENER\nusage:"},
		{[]string{"rebalance", "amqp", "mgmt", "--socket", sock}, `rmqlb rebalance: unexpected argument "mgmt"`},
		{[]string{"rebalance", "amqp/a", "--socket", sock}, `rmqlb rebalance: "amqp/a" is not a LISTENER: a rebalance moves the sessions of a whole listener`},
		{[]string{"notify", "--socket", sock, "vip"}, "rmqlb notify: name a VRRP instance and a state\nusage:"},
		{[]string{"notify", "--socket", sock, "vip", "Master"}, `rmqlb notify: "Master" is no hook: want master, backup, fault or stop`},
		{[]string{"sessions", "--socket", sock, "a/b/c"}, `"a/b/c" is not LISTENER or LISTENER/BACKEND`},
		{[]string{"sessions", "--socket", sock, "/b"}, `"/b" is not LISTENER or LISTENER/BACKEND`},
		{[]string{"sessions", "--socket", sock, "amqp/"}, `"amqp/" is not LISTENER or LISTENER/BACKEND`},
		{[]string{"sessions", "--socket", sock, "amqp", "mgmt"}, `unexpected argument "mgmt"`},
		{[]string{"sessions", "--socket", sock, "--limit", "0"}, "--limit must be 1..1000000, not 0"},
		{[]string{"sessions", "--socket", sock, "--client", "10.1.2.3/8"}, "bits set past /8 (10.0.0.0/8?)"},
		{[]string{"sessions", "--socket", sock, "--client", "rabbit1"}, `client "rabbit1": not an address, a prefix or an address:port`},
		{[]string{"sessions", "--socket", sock, "--shutdown"}, "--shutdown needs LISTENER, LISTENER/BACKEND, --client or --not-allowed"},
		{[]string{"sessions", "--socket", sock, "--shutdown", "amqp", "--limit", "5"}, "--limit does not apply"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) || strings.Contains(errb.String(), "connecting to the daemon") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

// TestClientConfigBrokenFile: a file the daemon would refuse still names
// its control socket: the client reaches the daemon (a reload then
// reports the refusal) instead of failing on the file.
func TestClientConfigBrokenFile(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "none.sock")
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("control_socket: "+sock+"\nlisteners: [{name: l, bind: nowhere}]\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"reload", "--config", broken}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "connecting to the daemon at "+sock) {
		t.Fatalf("reload --config of a broken file: exit %d, stderr %q; want an attempt at %s", code, errb.String(), sock)
	}
}

// TestWatchInterval: --watch alone, with =INTERVAL, or with INTERVAL as
// the next argument; a number counts seconds.
func TestWatchInterval(t *testing.T) {
	for _, c := range []struct {
		args []string
		want time.Duration
		rest bool // --json parsed after the interval
	}{
		{[]string{"--watch"}, time.Second, false},
		{[]string{"--watch", "--json"}, time.Second, true},
		{[]string{"--watch=250ms"}, 250 * time.Millisecond, false},
		{[]string{"--watch", "2s", "--json"}, 2 * time.Second, true},
		{[]string{"--json", "--watch", "0.5"}, 500 * time.Millisecond, true},
		{[]string{"--watch", "3"}, 3 * time.Second, false},
	} {
		fs := flag.NewFlagSet("status", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := defineStatusFlags(fs)
		w := &f.watch
		if err := parseStatusArgs(fs, w, c.args); err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !w.on || w.interval() != c.want || *f.json != c.rest {
			t.Errorf("%q: watch %v every %v json %v; want every %v json %v", c.args, w.on, w.interval(), *f.json, c.want, c.rest)
		}
	}
}

// A request that reached the daemon without an answer may have been acted
// on, and the error says so; one that never reached it, or that the
// daemon refused, says nothing more.
func TestOutcomeUnknown(t *testing.T) {
	if s := outcomeUnknown(fmt.Errorf("connecting: %w", control.ErrNotSent)); s != "" {
		t.Errorf("not sent: %q", s)
	}
	if s := outcomeUnknown(&control.RefusedError{Message: "no"}); s != "" {
		t.Errorf("refused: %q", s)
	}
	if s := outcomeUnknown(errors.New("reading response: i/o timeout")); !strings.Contains(s, "may have acted") {
		t.Errorf("no answer: %q", s)
	}
}
