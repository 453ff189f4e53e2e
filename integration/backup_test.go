package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBackupBackendNetns: a real rmqlb, VRRP master of the VIP on h1,
// proxies to an active backend on h2 and two backup backends on h3 (an
// active/standby setup that keeps every client on one broker). While the
// active one serves, the backups get no session; once its server is gone
// (its check fails), its sessions are closed and every new client goes to
// the first backup, none to the second; once it serves again, new clients
// go back to it while the backup keeps the sessions it has. With
// on_marked_up: shutdown-backup-sessions (set by a reload), the backup's
// sessions are closed when the active backend serves again. rmqlb status
// names the backups, and says when the clients go to one.
func TestBackupBackendNetns(t *testing.T) {
	l := newLab(t)
	h1, h2, h3, client := l.Host("h1"), l.Host("h2"), l.Host("h3"), l.Host("client")
	activeAP := h2.AddrPort(7003)
	active, err := h2.ServeEcho(activeAP)
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []uint16{7003, 7004} {
		if _, err := h3.ServeEcho(h3.AddrPort(port)); err != nil {
			t.Fatal(err)
		}
	}
	listeners := fmt.Sprintf(`  - name: amqp
    bind: %s
    policy: roundrobin
    check: {type: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1}
    backends:
      - {name: act, address: %s}
      - {name: bak1, address: %s:7003, backup: true}
      - {name: bak2, address: %s:7004, backup: true}
`, vipAP, activeAP, h3.Addr, h3.Addr)
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info", VRRP: []vrrpConf{{Priority: 150}}, Listeners: listeners})
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(l, h1, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.waitBackendsUp(5*time.Second, "act", "bak1", "bak2"); err != nil {
		t.Fatal(err)
	}
	var sessions []*echoSession
	for range 4 {
		sessions = append(sessions, dialEcho(t, client, vipAP))
	}
	if err := waitActive(d, map[string]int{"act": 4, "bak1": 0, "bak2": 0}, 3*time.Second); err != nil {
		t.Fatalf("active backend serving: %v", err)
	}
	out := d.mustStatusText()
	for _, want := range []string{"bak1 (backup)", "bak2 (backup)"} {
		if !strings.Contains(out, want) {
			t.Errorf("rmqlb status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "act (backup)") {
		t.Errorf("rmqlb status shows the active backend as a backup:\n%s", out)
	}
	if s := d.mustStatus(); s.backend("bak1").raw["backup"] != true || s.backend("act").raw["backup"] != nil {
		t.Errorf("status JSON: backup of bak1 %v, of act %v; want true and absent", s.backend("bak1").raw["backup"], s.backend("act").raw["backup"])
	}

	// The active broker goes away: its sessions are closed (the listener's
	// default on_marked_down), and every new client meets on bak1.
	active.Close()
	if err := d.waitBackend("act", "down", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for i, s := range sessions {
		if !s.closedWithin(3 * time.Second) {
			t.Errorf("session %d on the active backend not closed once it was DOWN", i)
		}
	}
	for range 4 {
		dialEcho(t, client, vipAP)
	}
	if err := waitActive(d, map[string]int{"act": 0, "bak1": 4, "bak2": 0}, 3*time.Second); err != nil {
		t.Fatalf("active backend down: %v", err)
	}
	reasons, _ := d.mustStatus().raw.(map[string]any)["verdict"].(map[string]any)["reasons"].([]any)
	if !slices.ContainsFunc(reasons, func(r any) bool { return r == "listener amqp: no active backend serves: new clients go to backup bak1" }) {
		t.Errorf("the verdict does not say the clients go to bak1: %q", reasons)
	}

	// It comes back: new clients go to it, bak1 keeps its sessions.
	active, err = h2.ServeEcho(activeAP)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.waitBackendsUp(5*time.Second, "act"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		dialEcho(t, client, vipAP)
	}
	if err := waitActive(d, map[string]int{"act": 3, "bak1": 4, "bak2": 0}, 3*time.Second); err != nil {
		t.Fatalf("active backend back: %v", err)
	}

	// With on_marked_up: shutdown-backup-sessions (a reload), the next
	// time the active backend serves again the sessions on bak1 are
	// closed, and their clients' new connections go to it.
	reloaded := d.reload(func(c *daemonConf) {
		c.Listeners = strings.Replace(listeners, "    policy: roundrobin\n", "    policy: roundrobin\n    on_marked_up: shutdown-backup-sessions\n", 1)
	})
	t.Logf("rmqlb reload:\n%s", strings.TrimSpace(reloaded))
	active.Close()
	if err := d.waitBackend("act", "down", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var onBackup []*echoSession
	for range 2 {
		onBackup = append(onBackup, dialEcho(t, client, vipAP))
	}
	if err := waitActive(d, map[string]int{"act": 0, "bak1": 6, "bak2": 0}, 3*time.Second); err != nil {
		t.Fatalf("active backend down again: %v", err)
	}
	if _, err := h2.ServeEcho(activeAP); err != nil {
		t.Fatal(err)
	}
	for i, s := range onBackup {
		if !s.closedWithin(5 * time.Second) {
			t.Errorf("session %d on bak1 not closed once the active backend served again", i)
		}
	}
	if err := waitActive(d, map[string]int{"bak1": 0, "bak2": 0}, 3*time.Second); err != nil {
		t.Fatalf("sessions left on the backups: %v", err)
	}
	dialEcho(t, client, vipAP)
	if err := waitActive(d, map[string]int{"act": 1, "bak1": 0}, 3*time.Second); err != nil {
		t.Fatalf("a client reconnecting: %v", err)
	}
}
