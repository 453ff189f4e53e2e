package integration

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRemoveStaleAfterKill: `rmqlb remove-stale`, which the unit runs
// after the daemon ended, refuses to touch the VIPs of a daemon that runs;
// after a SIGKILL left the VIP on the interface it removes it, also with
// the file edited since into one that does not load (the daemon recorded
// what it ran), and a second run finds nothing to remove. Without that
// record it removes the file's VIPs, also when a file the configuration
// names (a list of client addresses) is gone.
func TestRemoveStaleAfterKill(t *testing.T) {
	l := newLab(t)
	h1 := l.Host("h1")
	d := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{{Priority: 150}}})
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(2*time.Second, func() (bool, error) { return h1.HasAddr(vip) }); err != nil {
		t.Fatalf("MASTER without its VIP: %v", err)
	}
	removeStale := func() (string, error) {
		out, err := h1.Run(d.bin, "remove-stale", "--config", d.path)
		return string(out), err
	}
	if out, err := removeStale(); err == nil || !strings.Contains(err.Error(), "a daemon runs with this control socket") {
		t.Fatalf("remove-stale beside a running daemon: %v\n%s", err, out)
	}
	if ok, err := h1.HasAddr(vip); err != nil || !ok {
		t.Fatalf("the running daemon's VIP after a refused remove-stale: %v, %v", ok, err)
	}
	if err := d.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.proc.Wait(5 * time.Second)
	if ok, err := h1.HasAddr(vip); err != nil || !ok {
		t.Fatalf("no stale VIP after the SIGKILL to remove: %v, %v", ok, err)
	}
	// The file edited since into one that does not load: the daemon's
	// record of what it ran still names the VIP.
	conf, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.path, []byte("control_socket: "+d.sock+"\nvrrp_instances: []\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := removeStale()
	if err != nil || !strings.Contains(out, "removed stale VIP "+vipPfx.String()) {
		t.Fatalf("remove-stale after the SIGKILL: %v\n%s", err, out)
	}
	if ok, err := h1.HasAddr(vip); err != nil || ok {
		t.Fatalf("VIP on h1 after remove-stale: %v, %v", ok, err)
	}
	if out, err := removeStale(); err != nil || !strings.Contains(out, "no stale VIP") {
		t.Fatalf("remove-stale again: %v\n%s", err, out)
	}

	// Another run, killed too, and its record gone: the file's VIPs are
	// removed, though the list file it names is missing (which a daemon
	// would refuse).
	if err := os.WriteFile(d.path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	d.start()
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(2*time.Second, func() (bool, error) { return h1.HasAddr(vip) }); err != nil {
		t.Fatalf("MASTER without its VIP: %v", err)
	}
	if err := d.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.proc.Wait(5 * time.Second)
	if err := os.Remove(d.sock + ".vips"); err != nil { // daemon.ScopePath
		t.Fatalf("the daemon's record of its VIPs: %v", err)
	}
	listener := "listeners:\n  - name: amqp\n    bind: " + vip.String() + ":5672\n    allowed_clients_file: " + t.TempDir() + "/gone.lst\n" +
		"    backends:\n      - {name: a, address: 10.77.0.1:5672}\n"
	if err := os.WriteFile(d.path, append(conf, listener...), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := h1.Run(d.bin, "check-config", "--config", d.path); err == nil || !strings.Contains(string(out)+err.Error(), "gone.lst") {
		t.Fatalf("check-config of a file whose list file is missing: %v\n%s", err, out)
	}
	out, err = removeStale()
	if err != nil || !strings.Contains(out, "removed stale VIP "+vipPfx.String()) {
		t.Fatalf("remove-stale without a record: %v\n%s", err, out)
	}
	if ok, err := h1.HasAddr(vip); err != nil || ok {
		t.Fatalf("VIP on h1 after remove-stale: %v, %v", ok, err)
	}
}

// TestControlSocketRecreated: the control socket and the lock file of a
// running daemon, removed (a cleaned /run), are back within a couple of
// seconds: `rmqlb status` answers again, and a second daemon started with
// the same file is refused by the lock instead of taking the VIP.
func TestControlSocketRecreated(t *testing.T) {
	l := newLab(t)
	h1 := l.Host("h1")
	d := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{{Priority: 150}}})
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{d.sock, d.sock + ".lock"} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitFor(5*time.Second, func() (bool, error) {
		_, err := d.status()
		return err == nil, nil
	}); err != nil {
		t.Fatalf("rmqlb status after the socket file was removed: %v", err)
	}
	out, err := h1.Run(d.bin, "run", "--config", d.path)
	if err == nil || !strings.Contains(err.Error(), "another rmqlb daemon runs") {
		t.Fatalf("a second daemon after the lock file was removed: %v\n%s", err, out)
	}
	if err := stableHolder(l, h1, time.Second); err != nil {
		t.Error(err)
	}
}
