package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// TestControlRestored: the control socket's directory, with the socket
// and the lock file, removed while the daemon runs (a cleaned /run) is
// made again within a second on the daemon's clock: status answers at the
// path again, and the new lock file is locked by the daemon and names
// it, and the record of the VIPs for remove-stale is back. While another
// process holds the new lock file (a second daemon), the socket is left
// alone; once it lets go, both come back. A reload re-creates a removed
// socket at once.
func TestControlRestored(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "") // no status refresher: the watcher is the clock's only timer
	dir := filepath.Join(t.TempDir(), "run")
	sock := filepath.Join(dir, "rmqlb.sock")
	h := newHarness(t, "control_socket: "+sock+"\ninert: true\n")
	t0 := h.clk.Now()
	h.start()
	h.ready()
	status := func() error {
		var s control.Status
		return control.Call(sock, control.Request{Command: "status"}, &s, 5*time.Second)
	}
	if err := status(); err != nil {
		t.Fatalf("status: %v", err)
	}
	// tick moves the clock to the watcher's next look and waits until it
	// has looked (it waits for the following one).
	next := t0.Add(controlCheckEvery)
	tick := func() {
		t.Helper()
		h.clk.WaitArmed(t, next)
		h.clk.Set(next)
		next = next.Add(controlCheckEvery)
		h.clk.WaitArmed(t, next)
	}

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := status(); err == nil || !strings.Contains(err.Error(), "the socket is missing") {
		t.Fatalf("status with the socket removed: %v", err)
	}
	tick()
	if err := status(); err != nil {
		t.Fatalf("status a second after the removal: %v", err)
	}
	if _, err := takeLock(LockPath(sock)); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second lock of the new lock file: %v, want %v", err, ErrLocked)
	}
	if b, err := os.ReadFile(LockPath(sock)); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("new lock file holds %q (%v), want this pid", b, err)
	}
	h.d.mu.Lock()
	instances := len(h.d.cfg.VRRP)
	h.d.mu.Unlock()
	if scope, err := ReadScope(sock); err != nil || len(scope) != instances {
		t.Errorf("record of the VIPs after the removal: %+v, %v; want the %d instances of the file", scope, err, instances)
	}

	// Both removed again, and the new lock file taken by another process
	// first: the daemon places no socket beside a second daemon.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	other, err := takeLock(LockPath(sock))
	if err != nil {
		t.Fatal(err)
	}
	tick()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket placed while another process holds the lock file: %v", err)
	}
	other.release()
	tick()
	if err := status(); err != nil {
		t.Fatalf("status once the other process let go: %v", err)
	}
	if _, err := takeLock(LockPath(sock)); !errors.Is(err, ErrLocked) {
		t.Fatalf("the lock file once the other process let go: %v, want %v", err, ErrLocked)
	}

	// A reload (SIGHUP) re-creates the socket without waiting for the
	// watcher.
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	if r := h.d.Reload(); !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	if err := status(); err != nil {
		t.Fatalf("status after the reload: %v", err)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file left after the stop: %v", err)
	}
}
