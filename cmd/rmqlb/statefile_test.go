package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/internal/freeport"
)

// TestStateFileAcrossRestart runs the real binary twice on one state
// file: the operator's maint and weight set with rmqlb backend in the
// first process are in force in the second from its start.
func TestStateFileAcrossRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	bind, metrics := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	cfg := "state_file: " + state + "\n" + strings.NewReplacer("BIND", bind, "A", echo(t, "127.0.0.2"), "B", echo(t, "127.0.0.3"), "METRICS", metrics).Replace(statusConfig)
	backends := func(p *proc) map[string]string {
		t.Helper()
		out := map[string]string{}
		for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
			s := p.status()
			if len(s.Listeners) == 1 {
				for _, b := range s.Listeners[0].Backends {
					out[b.Name] = b.State.String()
					if b.WeightOverride {
						out[b.Name+" weight"] = strconv.Itoa(b.Weight)
					}
				}
				if out["a"] != backend.Down.String() && out["b"] != backend.Down.String() {
					return out
				}
			}
		}
		t.Fatalf("backends not checked within 10 s: %v", out)
		return nil
	}

	first := startProc(t, cfg)
	if got := backends(first); got["a"] != "UP" || got["b"] != "UP" {
		t.Fatalf("first process: %v", got)
	}
	for _, args := range [][]string{{"amqp/a", "maint"}, {"amqp/b", "weight", "7"}} {
		if code, out, errOut := cli(t, append([]string{"backend", "--socket", first.socket}, args...)...); code != 0 {
			t.Fatalf("backend %q: exit %d %s%s", args, code, out, errOut)
		}
	}
	first.terminate()

	second := startProc(t, cfg)
	if got := backends(second); got["a"] != "MAINT" || got["b"] != "UP" || got["b weight"] != "7" {
		t.Errorf("second process: %v, want a MAINT and b UP at the operator's weight 7", got)
	}
	if !strings.Contains(second.logText(), `restored an operator's state of the last run	{"state": "amqp/b weight 7"}`) {
		t.Errorf("the second process did not log the weight restored:\n%s", second.logText())
	}
}

// TestStateFileNotWritten runs the real binary with a state file it
// cannot write: status says so from the start, and an operator's command
// is applied (exit 0) and warns that it lasts until the daemon stops.
func TestStateFileNotWritten(t *testing.T) {
	state := filepath.Join(t.TempDir(), "missing", "state.json") // its directory does not exist
	bind, metrics := freeport.Addr(t, "127.0.0.1"), freeport.Addr(t, "127.0.0.1")
	cfg := "state_file: " + state + "\n" + strings.NewReplacer("BIND", bind, "A", echo(t, "127.0.0.2"), "B", echo(t, "127.0.0.3"), "METRICS", metrics).Replace(statusConfig)
	p := startProc(t, cfg)
	if f := p.status().StateFile; f == nil || f.Op != control.StateFileWrite || f.Path != state {
		t.Errorf("status at start: %+v, want the state file not written", f)
	}
	for _, args := range [][]string{{"amqp/a", "drain"}, {"amqp/b", "weight", "7"}} {
		code, out, errOut := cli(t, append([]string{"backend", "--socket", p.socket}, args...)...)
		want := "rmqlb backend: warning: not kept across a restart: writing the state file " + state + ": open "
		if code != 0 || out == "" || !strings.HasPrefix(errOut, want) || !strings.HasSuffix(errOut, ": no such file or directory: this change lasts until the daemon stops\n") {
			t.Errorf("backend %q: exit %d, stdout %q, stderr %q; want 0 and a warning", args, code, out, errOut)
		}
	}
}
