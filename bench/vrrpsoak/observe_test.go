package vrrpsoak

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestKeepalivedTransitions: state lines are counted, and a log without
// any is an error, not zero transitions.
func TestKeepalivedTransitions(t *testing.T) {
	log := "Starting VRRP child process, pid=12\n" +
		"(VI_1) Entering BACKUP STATE (init)\n" +
		"(VI_1) received lower priority (50) advert from 10.77.0.3 - discarding\n" +
		"(VI_1) Entering MASTER STATE\n"
	if n, err := keepalivedTransitions(log); err != nil || n != 2 {
		t.Errorf("keepalivedTransitions = %d, %v; want 2", n, err)
	}
	if n, err := keepalivedTransitions("Starting VRRP child process, pid=12\n"); err == nil {
		t.Errorf("a log without state lines: %d transitions, no error", n)
	}
}

// TestKeepalivedRespawns counts the VRRP children keepalived restarted.
func TestKeepalivedRespawns(t *testing.T) {
	log := "pid 10408 exited due to signal 9 (Killed) - has rlimit_rttime been exceeded?\n" +
		"VRRP child process(10408) died: Respawning\n" +
		"(VI_1) Entering BACKUP STATE (init)\n" +
		"VRRP child process(10641) died: Respawning\n"
	if n := keepalivedRespawns(log); n != 2 {
		t.Errorf("keepalivedRespawns = %d, want 2", n)
	}
	if n := keepalivedRespawns("(VI_1) Entering MASTER STATE\n"); n != 0 {
		t.Errorf("keepalivedRespawns of a log without a death = %d, want 0", n)
	}
}

// TestKeepalivedVRRPPID: a VRRP child between its death and its respawn
// (no pid file, an empty one, one naming a dead process) is none running,
// not an error; a pid file that is not a pid is an error.
func TestKeepalivedVRRPPID(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A pid above the kernel's largest (4194304) never runs.
	for _, tc := range []struct {
		name, path string
		want       int
		wantErr    bool
	}{
		{"no file", filepath.Join(dir, "none.pid"), 0, false},
		{"empty", write("empty.pid", ""), 0, false},
		{"dead", write("dead.pid", "4194305\n"), 0, false},
		{"running", write("self.pid", fmt.Sprintf("%d\n", os.Getpid())), os.Getpid(), false},
		{"garbage", write("bad.pid", "abc\n"), 0, true},
	} {
		pid, err := keepalivedVRRPPID(tc.path)
		if pid != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: pid %d, err %v; want %d, error %v", tc.name, pid, err, tc.want, tc.wantErr)
		}
	}
}
