package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// The blog post's files, kept with the migrate package's golden tests.
const (
	blogKeepalived = "../../migrate/testdata/blog/rabbitmq01-keepalived.conf"
	blogHAProxy    = "../../migrate/testdata/blog/haproxy.cfg"
)

func TestImport(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"import", "--keepalived", blogKeepalived, "--haproxy", blogHAProxy}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	c, err := config.Parse(out.Bytes())
	if err != nil {
		t.Fatalf("stdout does not validate: %v\n%s", err, out.String())
	}
	if len(c.VRRP) != 1 || c.VRRP[0].VRID != 1 || c.VRRP[0].Priority != 150 || c.VRRP[0].AuthPass != "passwd" || len(c.Listeners) != 2 {
		t.Errorf("unexpected configuration:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if !strings.HasPrefix(lines[0], blogKeepalived+":2: router_id rabbitmq01: not translated: ") {
		t.Errorf("first stderr line %q, want the router_id with its file and line", lines[0])
	}
	if last := lines[len(lines)-1]; last != "rmqlb import: 13 directives not translated, 11 translated with a note (above)" {
		t.Errorf("last stderr line %q", last)
	}
}

// TestImportHookWarnings: the notify scripts of a keepalived.conf that
// rmqlb would not run on this host are warned of, with their field and
// line in the file written.
func TestImportHookWarnings(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(script, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "keepalived.conf")
	ka := "vrrp_instance V {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.0.0.100\n }\n notify_master " + script + "\n}\n"
	if err := os.WriteFile(conf, []byte(ka), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"import", "--keepalived", conf}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	want := "rmqlb import: warning on this host: vrrp_instances[0].notify.master (line "
	if !strings.Contains(errb.String(), want) || !strings.Contains(errb.String(), "the daemon will not run the hook: "+script+" is writable by every user, mode 0777") {
		t.Errorf("stderr lacks the hook's warning:\n%s", errb.String())
	}
}

func TestImportExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	httpOnly := write("http.cfg", "listen web\n  bind :80\n  mode http\n  http-request redirect scheme https\n  server w 10.0.0.1:80\n")
	broken := write("broken.conf", "vrrp_instance V {\n  interface eth0\n")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no input", []string{"import"}, 2, "give at least one of --keepalived, --haproxy and --ipvsadm"},
		{"unknown flag", []string{"import", "--nginx", "x"}, 2, "flag provided but not defined: -nginx"},
		{"stray argument", []string{"import", "--haproxy", blogHAProxy, "extra"}, 2, `unexpected argument "extra"`},
		{"unreadable input", []string{"import", "--haproxy", filepath.Join(dir, "missing.cfg")}, 1, "no such file or directory"},
		{"input with a syntax error", []string{"import", "--keepalived", broken}, 1, broken + ":1: vrrp_instance: block opened here is not closed"},
		{"nothing translates", []string{"import", "--haproxy", httpOnly}, 1, "needs at least one of vrrp_instances and listeners"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, errb.String())
			}
			if out.Len() != 0 {
				t.Errorf("stdout holds %q, want nothing", out.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errb.String())
			}
		})
	}
}

// TestImportWarnings: the file written is valid, and what check-config
// would warn of on any host is on stderr after the notes: HAProxy's
// hard-stop-after of 5 minutes, as the graceful_timeout of a listener
// bound to no VIP, outlasts the packaged unit's TimeoutStopSec.
func TestImportWarnings(t *testing.T) {
	p := filepath.Join(t.TempDir(), "haproxy.cfg")
	cfg := "global\n hard-stop-after 5m\nlisten amqp\n bind 10.0.0.100:5672\n server a 10.0.0.1:5672 check\n"
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"import", "--haproxy", p}, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "graceful_timeout: 5m\n") {
		t.Errorf("stdout lacks graceful_timeout: 5m:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	want := "rmqlb import: warning: listeners[0].graceful_timeout (line 10): 5m0s is not below the packaged unit's TimeoutStopSec=90s"
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, want) {
		t.Errorf("last stderr line %q, want it to start with %q", last, want)
	}
}
