package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/freeport"
)

// TestReadableSecretsWarned: a configuration file that holds a password
// (a VRRPv2 auth_pass, a login check's password) and that others may read
// gets a warning from check-config, which still accepts it, and from run
// at start; at mode 0600, or 0640 with a trusted group (this process's),
// neither warns.
func TestReadableSecretsWarned(t *testing.T) {
	dir := t.TempDir()
	authPass := filepath.Join(dir, "auth_pass.yaml")
	os.WriteFile(authPass, []byte(`vrrp_instances:
  - {name: v, interface: lo, virtual_router_id: 1, auth_pass: s3cret, virtual_ipaddress: [10.0.0.100]}
`), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", "--config", authPass}, &out, &errb); code != 0 ||
		!strings.Contains(errb.String(), "warning: "+authPass+" holds a password (vrrp_instances[0].auth_pass, line 2)") ||
		!strings.Contains(errb.String(), "mode 0644") {
		t.Fatalf("check-config of a world-readable file with auth_pass: exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	for _, mode := range []os.FileMode{0o640, 0o600} {
		os.Chmod(authPass, mode)
		out.Reset()
		errb.Reset()
		if code := run([]string{"check-config", "--config", authPass}, &out, &errb); code != 0 || errb.Len() != 0 {
			t.Fatalf("check-config of the file at %04o: exit %d, stderr %q; want no warning", mode, code, errb.String())
		}
	}

	// run, with a login check's password in a file anybody may read.
	a := echo(t, "127.0.0.2")
	cfg := strings.NewReplacer("BIND", freeport.Addr(t, "127.0.0.1"), "A", a, "metrics_listen: METRICS\n", "").Replace(procConfig)
	cfg = strings.Replace(cfg, "weight: 10}", "weight: 10, check: {type: amqp, mode: login, user: rmqlb, password: s3cret}}", 1)
	p := startProcAs(t, cfg, nil, func(path, _ string) []string {
		if err := os.Chmod(path, 0o644); err != nil { // startProcAs writes it 0600
			t.Fatal(err)
		}
		return []string{binary, "run", "--config", path}
	})
	p.status() // started
	want := "holds a password (listeners[0].backends[0].check.password, line 7) and is readable by others or by a group other than root's, the daemon's (rmqlb) or this process's (mode 0644)"
	for start := time.Now(); !strings.Contains(p.logText(), want); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no warning at start within 10 s, want %q:\n%s", want, p.logText())
		}
	}
	p.terminate()
}
