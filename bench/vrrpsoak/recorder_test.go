package vrrpsoak

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecorderDumps(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (tracefs)")
	}
	if _, err := os.Stat(tracefs); err != nil {
		t.Skipf("no mount point for tracefs: %v", err)
	}
	// OpenRecorder mounts tracefs when it is not mounted, and Close
	// unmounts it then: the machine is left as it was. Where tracefs is
	// mounted already this check holds trivially; a fresh machine (as in
	// CI) exercises the mount.
	_, statErr := os.Stat(filepath.Join(tracefs, "instances"))
	wasMounted := statErr == nil
	defer func() {
		_, err := os.Stat(filepath.Join(tracefs, "instances"))
		if now := err == nil; now != wasMounted {
			t.Errorf("tracefs mounted %v before the recorder, %v after it", wasMounted, now)
		}
	}()
	dir := t.TempDir()
	name := fmt.Sprintf("vrrp-soak-test-%d", os.Getpid())
	r, err := OpenRecorder(name, dir, 1024, 2, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			r.Close()
		}
	}()
	if on, _ := os.ReadFile(filepath.Join(tracefs, "instances", name, "tracing_on")); strings.TrimSpace(string(on)) != "0" {
		t.Fatalf("recording before Start: tracing_on %q", on)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil { // a second window
		t.Fatal(err)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // some switches to record, the second window still on
	end1 := time.Now().UnixNano()
	path, err := r.Dump("a test", 30*time.Millisecond, end1)
	if err != nil || path == "" {
		t.Fatalf("Dump: %q, %v", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "# a test\n# trace clock: CLOCK_MONOTONIC") || !strings.Contains(string(b), "sched_switch:") {
		t.Fatalf("dump has no header or no switches:\n%.500s", b)
	}
	// A gap that ended before the first dump stopped the recording was
	// in that dump.
	if path, err := r.Dump("the same gap, seen at another host", 40*time.Millisecond, end1+int64(20*time.Microsecond)); path != "" || err != nil {
		t.Fatalf("a dump of a gap the first one held: %q, %v", path, err)
	}
	if path, err := r.Dump("a later gap, no longer", 30*time.Millisecond, time.Now().UnixNano()); path != "" || err != nil {
		t.Fatalf("a dump of a gap no longer than one dumped: %q, %v", path, err)
	}
	if path, err := r.Dump("a later, longer gap", 31*time.Millisecond, time.Now().UnixNano()); path == "" || err != nil {
		t.Fatalf("no dump of a later, longer gap: %q, %v", path, err)
	}
	if path, err := r.Dump("a third gap", time.Second, time.Now().UnixNano()); path != "" || err != nil {
		t.Fatalf("a dump past the maximum: %q, %v", path, err)
	}
	if on, _ := os.ReadFile(filepath.Join(tracefs, "instances", name, "tracing_on")); strings.TrimSpace(string(on)) != "1" {
		t.Fatalf("not recording on after a dump in a window: tracing_on %q", on)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if on, _ := os.ReadFile(filepath.Join(tracefs, "instances", name, "tracing_on")); strings.TrimSpace(string(on)) != "0" {
		t.Fatalf("recording after the last window stopped: tracing_on %q", on)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if _, err := os.Stat(filepath.Join(tracefs, "instances", name)); !os.IsNotExist(err) {
		t.Fatalf("the instance is still there: %v", err)
	}
}
