package rabbittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReapLeavesOwnedChildren: a child that os/exec waits for and that
// runs under an Erlang helper's name (rabbitmqctl runs as beam.smp) is
// not reaped by another node's reap of its orphans once it has exited:
// its Wait then returns its exit status, not ECHILD ("waitid: no child
// processes"), which made a node's start fail while another node of the
// lab cleaned up after a CLI run.
func TestReapLeavesOwnedChildren(t *testing.T) {
	dir := t.TempDir()
	beam := filepath.Join(dir, "beam.smp")
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	if err := os.WriteFile(beam, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(beam)
	if err := startOwned(cmd); err != nil {
		t.Fatal(err)
	}
	// Wait until it is a zombie (exited, not yet waited for).
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat")
		if err == nil && strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child did not exit: %q, %v", stat, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	reapErlangOrphans()
	if err := waitOwned(cmd); err != nil {
		t.Fatalf("Wait of the child after another node's reap: %v", err)
	}
	owned.Lock()
	defer owned.Unlock()
	if owned.pids[cmd.Process.Pid] {
		t.Error("the child is still owned after its Wait")
	}
}
