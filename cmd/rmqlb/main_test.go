package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if code := run([]string{"status", "--socket", filepath.Join(t.TempDir(), "none.sock")}, &out, &errb); code != 1 {
		t.Errorf("status without daemon: exit %d, want 1", code)
	}
}
