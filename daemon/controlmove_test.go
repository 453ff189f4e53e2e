package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// TestReloadMovesControlSocket: a reload sent over the control socket that
// changes control_socket is answered over the old socket, after which the
// new socket answers and the old one is gone; the single-instance lock
// and the record of the VIPs move with it (the new lock held, the old one
// free), and nothing needs a restart. A move whose new lock another
// daemon holds is refused and the socket stays where it was; the dry run
// foresees it.
func TestReloadMovesControlSocket(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	old := h.socket()
	moved := filepath.Join(h.dir, "sub", "moved.sock")
	h.write(l.file("control_socket: SOCKET", "control_socket: "+moved))

	var r control.Reload
	if err := control.Call(old, control.Request{Command: "reload"}, &r, 5*time.Second); err != nil {
		t.Fatalf("reload over the old socket: %v", err)
	}
	if !r.OK() || len(r.Pending) != 0 || !slices.Equal(r.Applied, []string{"control_socket " + moved}) {
		t.Fatalf("reload: %+v", r)
	}
	var s control.Status
	if err := control.Call(moved, control.Request{Command: "status"}, &s, 5*time.Second); err != nil {
		t.Fatalf("status over the new socket: %v", err)
	}
	if _, err := takeLock(LockPath(moved)); !errors.Is(err, ErrLocked) {
		t.Errorf("lock of the new socket: %v, want held (%v)", err, ErrLocked)
	}
	// The old socket goes once the reload's own request is answered.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, statErr := os.Stat(old)
		lk, lockErr := takeLock(LockPath(old))
		if lockErr == nil {
			lk.release()
		}
		if os.IsNotExist(statErr) && lockErr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old socket after the move: stat %v, lock %v; want gone and free", statErr, lockErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := control.Call(old, control.Request{Command: "status"}, &s, time.Second); err == nil {
		t.Error("the old socket still answers")
	}
	// The record of the VIPs for remove-stale moved with the socket.
	if _, err := ReadScope(moved); err != nil {
		t.Errorf("record of the VIPs at the new path: %v", err)
	}
	if _, err := os.Stat(ScopePath(old)); !os.IsNotExist(err) {
		t.Errorf("record of the VIPs left at the old path: %v", err)
	}

	// Back again, with the old path's lock held by someone else: refused,
	// the socket stays where it is and keeps answering.
	other, err := takeLock(LockPath(old))
	if err != nil {
		t.Fatal(err)
	}
	h.write(l.file())
	plan := h.d.PlanReload()
	r = control.Reload{}
	if err := control.Call(moved, control.Request{Command: "reload"}, &r, 5*time.Second); err != nil {
		t.Fatalf("reload over the moved socket: %v", err)
	}
	if r.OK() || len(r.Refused) != 1 || !strings.Contains(r.Refused[0], "control_socket") || !strings.Contains(r.Refused[0], "another rmqlb daemon") {
		t.Fatalf("move onto a held lock: %+v", r)
	}
	// The dry run foresees it, in the reload's words.
	if len(plan.Changes) != 0 || !slices.Equal(plan.Refused, r.Refused) {
		t.Errorf("dry run of the move onto a held lock: changes %+v, refused %q; want the reload's refusal %q", plan.Changes, plan.Refused, r.Refused)
	}
	if err := control.Call(moved, control.Request{Command: "status"}, &s, 5*time.Second); err != nil {
		t.Fatalf("status after the refused move: %v", err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("refused move left a socket at %s: %v", old, err)
	}
	other.release()
	// The same file again, the lock now free: moved back.
	r = control.Reload{}
	if err := control.Call(moved, control.Request{Command: "reload"}, &r, 5*time.Second); err != nil {
		t.Fatalf("reload over the moved socket: %v", err)
	}
	if !r.OK() || !slices.Equal(r.Applied, []string{"control_socket " + old}) {
		t.Fatalf("move back: %+v", r)
	}
	if err := control.Call(old, control.Request{Command: "status"}, &s, 5*time.Second); err != nil {
		t.Fatalf("status over the socket moved back: %v", err)
	}
}
