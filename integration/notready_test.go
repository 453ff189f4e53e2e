package integration

import (
	"strings"
	"testing"
	"time"
)

// TestVRRPInterfaceCreatedAfterStart: rmqlb starts on h1 before h1's
// interface exists (a bond or VLAN that comes up late at boot). The daemon
// runs and answers, its instance in FAULT naming the missing interface,
// then the interface without an address; h2 holds the VIP meanwhile. Once
// the interface has its address, h1's instance takes the VIP back (it has
// the higher priority), without a restart.
func TestVRRPInterfaceCreatedAfterStart(t *testing.T) {
	l := newLab(t)
	h1, h2 := l.Host("h1"), l.Host("h2")
	d2 := startDaemon(t, l, h2, daemonConf{VRRP: []vrrpConf{{Priority: hostPrios["h2"]}}})
	if err := d2.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteLink(h1); err != nil {
		t.Fatal(err)
	}
	d1 := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{{Priority: hostPrios["h1"]}}})
	waitReason := func(what, want string) {
		t.Helper()
		if err := waitFor(10*time.Second, func() (bool, error) {
			in, err := d1.instance("vip")
			if err != nil {
				return false, err
			}
			return in.State == "FAULT" && strings.Contains(in.Reason, want), nil
		}); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, d1.mustStatusText())
		}
	}
	waitReason("started without its interface", "interface eth0 does not exist")
	if text := d1.mustStatusText(); !strings.Contains(text, "FAULT") || !strings.Contains(text, "interface eth0 does not exist") {
		t.Fatalf("rmqlb status without the interface:\n%s", text)
	}

	if err := l.CreateLink(h1); err != nil {
		t.Fatal(err)
	}
	waitReason("interface created without an address", "interface eth0 has no IPv4 address")
	if err := stableHolder(l, h2, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	if err := l.AddAddr(h1); err != nil {
		t.Fatal(err)
	}
	if err := d1.waitState("MASTER", 10*time.Second); err != nil {
		t.Fatalf("once its interface is ready: %v\n%s", err, d1.mustStatusText())
	}
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d2.waitState("BACKUP", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d1.proc.Exited() {
		t.Fatalf("rmqlb on h1 exited: %v", d1.proc.Wait(0))
	}
}
