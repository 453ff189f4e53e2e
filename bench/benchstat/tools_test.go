package benchstat

import (
	"os"
	"path/filepath"
	"testing"
)

// TestNeedTools: tools on PATH pass; the missing ones are named once each,
// sorted, with their Debian package.
func TestNeedTools(t *testing.T) {
	dir := t.TempDir()
	for _, tool := range []string{"haproxy", "iperf3"} {
		if err := os.WriteFile(filepath.Join(dir, tool), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	if err := NeedTools("haproxy", "iperf3", "haproxy"); err != nil {
		t.Fatalf("NeedTools of tools on PATH: %v", err)
	}
	err := NeedTools("perf", "haproxy", "ip", "stress-ng", "ip")
	want := "not installed: ip (apt-get install iproute2), perf (apt-get install linux-perf), stress-ng (apt-get install stress-ng)"
	if err == nil || err.Error() != want {
		t.Fatalf("NeedTools = %v, want %q", err, want)
	}
}
