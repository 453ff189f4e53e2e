package notify

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestCheckSafe: who may change a hook, or the directories above it,
// decides whether the daemon runs it.
func TestCheckSafe(t *testing.T) {
	root := os.Geteuid() == 0
	dir := t.TempDir()
	mkdir := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	chmod := func(p string, mode os.FileMode) string {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	chown := func(p string, uid, gid int) string {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	symlink := func(target, p string) string {
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	safeDir := mkdir("safe", 0o755)
	open := mkdir("open", 0o777)
	sticky := mkdir("sticky", 0o777|os.ModeSticky)
	hook := script(t, safeDir, "hook", "exit 0\n")
	inOpen := script(t, open, "hook", "exit 0\n")

	type tc struct {
		name, path  string
		uid         int
		wantPath    string // "": safe
		wantProblem string
	}
	me := os.Geteuid()
	cases := []tc{
		{name: "safe", path: hook, uid: me},
		{name: "in a sticky directory", path: script(t, sticky, "hook", "exit 0\n"), uid: me},
		{name: "writable by every user", path: chmod(script(t, safeDir, "open", "exit 0\n"), 0o777), uid: me,
			wantPath: filepath.Join(safeDir, "open"), wantProblem: "is writable by every user, mode 0777"},
		{name: "sticky does not exempt the program", path: chmod(script(t, safeDir, "stickyfile", "exit 0\n"), 0o777|os.ModeSticky), uid: me,
			wantPath: filepath.Join(safeDir, "stickyfile"), wantProblem: "is writable by every user, mode 0777"},
		{name: "in a directory every user writes", path: inOpen, uid: me,
			wantPath: open, wantProblem: "is writable by every user, mode 0777"},
		{name: "link to a program in a directory every user writes", path: symlink(inOpen, filepath.Join(safeDir, "link")), uid: me,
			wantPath: open, wantProblem: "is writable by every user, mode 0777"},
		{name: "link in a directory every user writes", path: symlink(hook, filepath.Join(open, "link")), uid: me,
			wantPath: open, wantProblem: "is writable by every user, mode 0777"},
	}
	if root {
		other := mkdir("other", 0o755)
		uid, gid := unnamedID(t, func(id string) error { _, err := user.LookupId(id); return err }),
			unnamedID(t, func(id string) error { _, err := user.LookupGroupId(id); return err })
		cases = append(cases,
			tc{name: "owned by another user", path: chown(script(t, safeDir, "alice", "exit 0\n"), uid, 0), uid: 0,
				wantPath: filepath.Join(safeDir, "alice"), wantProblem: fmt.Sprintf("is owned by uid %d", uid)},
			tc{name: "owned by the daemon's user", path: filepath.Join(safeDir, "alice"), uid: uid},
			tc{name: "in a directory of another user", path: script(t, chown(other, uid, 0), "hook", "exit 0\n"), uid: 0,
				wantPath: other, wantProblem: fmt.Sprintf("is owned by uid %d", uid)},
			tc{name: "writable by another group", path: chmod(chown(script(t, safeDir, "grp", "exit 0\n"), 0, gid), 0o775), uid: 0,
				wantPath: filepath.Join(safeDir, "grp"), wantProblem: fmt.Sprintf("is writable by group gid %d, mode 0775", gid)},
			tc{name: "writable by root's group", path: chmod(chown(script(t, safeDir, "grp0", "exit 0\n"), 0, 0), 0o775), uid: 0},
		)
	} else {
		t.Log("not root: the cases of other owners and groups are left out (they need chown)")
	}
	for _, c := range cases {
		err := CheckSafe(c.path, c.uid)
		var u *UnsafeError
		switch {
		case c.wantPath == "" && err != nil:
			t.Errorf("%s: CheckSafe(%s) = %v, want nil", c.name, c.path, err)
		case c.wantPath == "":
		case !errors.As(err, &u):
			t.Errorf("%s: CheckSafe(%s) = %v, want an *UnsafeError", c.name, c.path, err)
		case u.Path != c.wantPath || u.Problem != c.wantProblem:
			t.Errorf("%s: CheckSafe(%s) = %q %q, want %q %q", c.name, c.path, u.Path, u.Problem, c.wantPath, c.wantProblem)
		case !strings.Contains(err.Error(), "could run commands as the daemon"):
			t.Errorf("%s: %v does not say why it matters", c.name, err)
		}
	}
	var u *UnsafeError
	if err := CheckSafe(filepath.Join(safeDir, "missing"), me); err == nil || errors.As(err, &u) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing program: %v, want the error of reading it", err)
	}
}

// TestUnsafeHookNotRun: the runner checks a hook before each run; an
// unsafe one is not run and counts as an error, and runs again once it
// is made safe.
func TestUnsafeHookNotRun(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	hook := script(t, dir, "hook", "echo x >> "+marker+"\n")
	if err := os.Chmod(hook, 0o777); err != nil {
		t.Fatal(err)
	}
	r, err := NewRunner("v", Config{Master: []string{hook}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Notify(event(Master, "BACKUP"))
	runToEnd(t, r)
	s := r.Snapshot()
	if s.Failures != 1 || s.Last.Result != ResultError ||
		!strings.Contains(s.LastError, "running notify master hook "+hook+": not run: "+hook+" is writable by every user, mode 0777") {
		t.Fatalf("unsafe hook: %+v (last %+v)", s, s.Last)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the unsafe hook ran")
	}

	if err := os.Chmod(hook, 0o755); err != nil {
		t.Fatal(err)
	}
	r2, err := NewRunner("v", Config{Master: []string{hook}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r2.Notify(event(Master, "BACKUP"))
	runToEnd(t, r2)
	if s := r2.Snapshot(); s.Failures != 0 || s.Last.Result != ResultOK {
		t.Fatalf("made safe: %+v (last %+v)", s, s.Last)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "x\n" {
		t.Fatalf("made safe: marker %q, %v", b, err)
	}
}

// unnamedID returns an id from 4242 up that lookup finds no name for, so
// that the messages say "uid N" on any host.
func unnamedID(t *testing.T, lookup func(id string) error) int {
	t.Helper()
	for id := 4242; id < 1<<20; id++ {
		if lookup(strconv.Itoa(id)) != nil {
			return id
		}
	}
	t.Fatal("no id without a name")
	return 0
}

// TestUnsafeGauge: rmqlb_notify_hook_unsafe follows each configured hook's
// safety at each scrape, without a run.
func TestUnsafeGauge(t *testing.T) {
	dir := t.TempDir()
	hook := script(t, dir, "hook", "exit 0\n")
	reg := prometheus.NewRegistry()
	if _, err := NewRunner("v", Config{Master: []string{hook}, Stop: []string{"/bin/true"}}, Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	gauge := func() map[string]float64 {
		t.Helper()
		out := map[string]float64{}
		for _, m := range metricstest.Gather(t, reg)["rmqlb_notify_hook_unsafe"].GetMetric() {
			labels := metricstest.Labels(m)
			if labels["vrrp_instance"] != "v" {
				t.Errorf("labels %v", labels)
			}
			out[labels["state"]] = m.GetGauge().GetValue()
		}
		return out
	}
	if got := gauge(); !maps.Equal(got, map[string]float64{"master": 0, "backup": 0, "fault": 0, "stop": 0}) {
		t.Fatalf("safe hooks: %v", got)
	}
	if err := os.Chmod(hook, 0o777); err != nil {
		t.Fatal(err)
	}
	if got := gauge(); !maps.Equal(got, map[string]float64{"master": 1, "backup": 0, "fault": 0, "stop": 0}) {
		t.Fatalf("the master hook writable by every user: %v", got)
	}
}

// TestUserGroupName: the names of user and group 0 (root on every Linux
// system), and the number of an ID without a name.
func TestUserGroupName(t *testing.T) {
	for _, c := range []struct {
		lookup func(uint32) (string, bool)
		id     uint32
		want   string
		named  bool
	}{
		{UserName, 0, "root", true},
		{GroupName, 0, "root", true},
		{UserName, 3999999, "3999999", false},
		{GroupName, 3999999, "3999999", false},
	} {
		if got, named := c.lookup(c.id); got != c.want || named != c.named {
			t.Errorf("lookup of %d: %q, %v; want %q, %v", c.id, got, named, c.want, c.named)
		}
	}
}
