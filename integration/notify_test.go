package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNotifyHookNetns: a real rmqlb in a host namespace runs its notify
// hooks: BACKUP at start, MASTER when it takes the VIP, STOP when it is
// stopped (before it exits), each with the instance's priority. Each hook
// writes its environment and the addresses it sees (it runs in the
// daemon's namespace, and finds ip(8) through the daemon's PATH); status
// counts the runs.
func TestNotifyHookNetns(t *testing.T) {
	l := newLab(t)
	h1 := l.Host("h1")
	dir := filepath.Join(l.Dir, "hooks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hook := filepath.Join(dir, "hook")
	if err := os.WriteFile(hook, []byte(`#!/bin/sh
out="$1/$RMQLB_STATE"
ip -o -4 addr show > "$out.addrs"
env > "$out.tmp" && mv "$out.tmp" "$out"
`), 0o755); err != nil {
		t.Fatal(err)
	}
	notify := fmt.Sprintf("    notify: {master: [%[1]s, %[2]s], backup: [%[1]s, %[2]s], stop: [%[1]s, %[2]s], timeout: 5s}\n", hook, dir)
	d := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{{Priority: 150, Notify: notify}}})
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The hook runs after the transition, at its own pace: wait for its
	// file (its environment is written last).
	env := func(state string) map[string]string {
		t.Helper()
		p := filepath.Join(dir, state)
		if err := waitFor(5*time.Second, func() (bool, error) {
			_, err := os.Stat(p)
			return err == nil, err
		}); err != nil {
			t.Fatalf("the %s hook left no environment: %v\n%s", state, err, d.proc.Tail(30))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, _ := strings.Cut(line, "=")
			m[k] = v
		}
		return m
	}
	check := func(state, prev, reason string) {
		t.Helper()
		m := env(state)
		for k, want := range map[string]string{
			"RMQLB_INSTANCE":   "vip",
			"RMQLB_STATE":      state,
			"RMQLB_PREV_STATE": prev,
			"RMQLB_VIPS":       vipPfx.String(),
			"RMQLB_REASON":     reason,
			"RMQLB_PRIORITY":   "150",
		} {
			if m[k] != want {
				t.Errorf("%s hook: %s=%q, want %q", state, k, m[k], want)
			}
		}
		addrs, err := os.ReadFile(filepath.Join(dir, state+".addrs"))
		if err != nil || !strings.Contains(string(addrs), "10.77.0.1/24") {
			t.Errorf("%s hook did not run in h1's namespace (or found no ip(8) on PATH %q): %v\n%s", state, m["PATH"], err, addrs)
		}
	}
	check("BACKUP", "INIT", "startup")
	check("MASTER", "BACKUP", "no advertisement heard within master down interval")
	if err := waitFor(5*time.Second, func() (bool, error) {
		in, err := d.instance("vip")
		if err != nil {
			return false, err
		}
		n, _ := in.raw["notify"].(map[string]any)
		return n != nil && n["runs"] == 2.0 && n["failures"] == 0.0, fmt.Errorf("notify status %v", n)
	}); err != nil {
		t.Error(err)
	}

	// The operator's test of the backup hook: the daemon runs it, in its
	// namespace, with the test's reason, and nothing else changes.
	if err := os.Remove(filepath.Join(dir, "BACKUP")); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(d.bin, "notify", "vip", "backup", "--socket", d.sock).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "vip: backup hook "+hook+" "+dir+": ok in ") {
		t.Fatalf("rmqlb notify vip backup: %v\n%s", err, out)
	}
	check("BACKUP", "MASTER", "a test run by the operator (rmqlb notify)")
	if st := d.state(); st != "MASTER" {
		t.Errorf("after the test run: %s, want MASTER", st)
	}
	if in, err := d.instance("vip"); err != nil {
		t.Error(err)
	} else if n, _ := in.raw["notify"].(map[string]any); n == nil || n["runs"] != 2.0 {
		t.Errorf("the test run counted: notify status %v", n)
	}

	if err := d.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.proc.Wait(10 * time.Second); err != nil {
		t.Fatalf("rmqlb exit after SIGTERM: %v\n%s", err, d.proc.Tail(30))
	}
	// rmqlb waits for its stop hook before it exits.
	if _, err := os.Stat(filepath.Join(dir, "STOP")); err != nil {
		t.Fatalf("no stop hook had run when rmqlb exited: %v\n%s", err, d.proc.Tail(30))
	}
	check("STOP", "MASTER", "shutdown")
}
