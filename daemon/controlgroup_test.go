package daemon

import (
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestReloadControlGroup: a reload changes control_group live: the
// control socket file is given the group (mode 0660) or taken back to
// 0600, the reload says so, and nothing needs a restart; a file naming a
// group that does not exist is refused with the socket left as it was.
func TestReloadControlGroup(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	// The process's own group: a file's owner may give it its group
	// without privileges.
	grp, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	socketIs := func(when string, mode os.FileMode, gid int) {
		t.Helper()
		fi, err := os.Lstat(h.socket())
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != mode || (gid >= 0 && int(st.Gid) != gid) {
			t.Errorf("%s: control socket mode %v group %d, want %v group %d", when, fi.Mode().Perm(), st.Gid, mode, gid)
		}
	}
	withGroup := func(g string) string {
		return l.file("control_socket: SOCKET", "control_socket: SOCKET\ncontrol_group: "+g)
	}
	socketIs("at start", 0o600, -1)

	r := h.reload(withGroup(grp.Name))
	if !r.OK() || len(r.Pending) != 0 || !slices.Equal(r.Applied, []string{`control_group "` + grp.Name + `"`}) {
		t.Fatalf("control_group %s: %+v", grp.Name, r)
	}
	socketIs("with the group", 0o660, os.Getgid())

	// A group that does not exist: the file is refused as it loads.
	const missing = "rmqlb-no-such-group"
	r = h.reload(withGroup(missing))
	if r.OK() || !strings.Contains(r.Error, "control_group") || !strings.Contains(r.Error, missing) {
		t.Fatalf("control_group %s: %+v", missing, r)
	}
	socketIs("after the refused group", 0o660, os.Getgid())

	r = h.reload(l.file())
	if !r.OK() || len(r.Pending) != 0 || !slices.Equal(r.Applied, []string{`control_group ""`}) {
		t.Fatalf("control_group removed: %+v", r)
	}
	socketIs("without the group", 0o600, -1)
	if r = h.reload(l.file()); !r.OK() || len(r.Applied) != 0 {
		t.Fatalf("the same file again: %+v", r)
	}
}
