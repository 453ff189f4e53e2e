package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestVRRPAdvertsCannotBeSent: the master's adverts cannot be sent (a
// firewall rule of its host drops VRRP on output, nftables in h1's
// namespace, so that sendto fails with EPERM): the backup hears nothing,
// takes over beside the master (a split brain), and the master's `rmqlb
// status` says so, degraded (exit 1), naming the destination and why, in
// its verdict, its JSON (`send_failing`) and its text. Once the rule is
// gone the backup gives way and the status is healthy again. With the
// advert sender process (its reports carry the failure) and inline.
func TestVRRPAdvertsCannotBeSent(t *testing.T) {
	for _, sender := range []string{"process", "inline"} {
		t.Run(sender, func(t *testing.T) { testAdvertsCannotBeSent(t, sender) })
	}
}

func testAdvertsCannotBeSent(t *testing.T, sender string) {
	l := newLab(t)
	h1, h2 := l.Host("h1"), l.Host("h2")
	global := "vrrp_sender: " + sender + "\n"
	d1 := startDaemon(t, l, h1, daemonConf{Global: global, VRRP: []vrrpConf{{Priority: 150}}})
	d2 := startDaemon(t, l, h2, daemonConf{Global: global, VRRP: []vrrpConf{{Priority: 100}}})
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("after start: %v", err)
	}
	if err := stableHolder(l, h1, time.Second); err != nil {
		t.Fatal(err)
	}
	if in, err := d1.instance("vip"); err != nil || in.raw["send_failing"] != nil {
		t.Fatalf("h1 before: send_failing %v (%v)", in.raw["send_failing"], err)
	}

	for _, rule := range [][]string{
		{"add", "table", "ip", "rmqlbtest"},
		{"add", "chain", "ip", "rmqlbtest", "out", "{ type filter hook output priority 0; }"},
		{"add", "rule", "ip", "rmqlbtest", "out", "ip", "protocol", "vrrp", "drop"},
	} {
		if _, err := h1.Run(append([]string{"nft"}, rule...)...); err != nil {
			t.Fatalf("%v (scripts/setup.sh installs nftables)", err)
		}
	}
	dst := "224.0.0.18"
	if err := d2.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatalf("h2 did not take over while h1's adverts could not reach it: %v", err)
	}
	var reasons []any
	if err := waitFor(5*time.Second, func() (bool, error) {
		s, err := d1.status()
		if err != nil {
			return false, err
		}
		reasons, _ = s.raw.(map[string]any)["verdict"].(map[string]any)["reasons"].([]any)
		return strings.Contains(fmt.Sprint(reasons), "adverts to "+dst+" cannot be sent"), nil
	}); err != nil {
		t.Fatalf("h1's verdict does not say its adverts cannot be sent: %q", reasons)
	}
	if !strings.Contains(fmt.Sprint(reasons), "operation not permitted") {
		t.Errorf("h1's verdict does not say why: %q", reasons)
	}
	in, err := d1.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := in.raw["send_failing"].(map[string]any)
	if f == nil || f["dst"] != dst || !strings.Contains(fmt.Sprint(f["error"]), "operation not permitted") {
		t.Errorf("h1's send_failing: %v", in.raw["send_failing"])
	}
	if in.State != "MASTER" {
		t.Errorf("h1 is %s, want MASTER (its adverts are not heard; nothing it hears makes it leave)", in.State)
	}
	if txt := d1.mustStatusText(); !strings.Contains(txt, "adverts failing vip: to "+dst) {
		t.Errorf("h1's status text has no line of the failing adverts:\n%s", txt)
	}
	t.Logf("h1 (%s sends): %v", sender, f)

	if _, err := h1.Run("nft", "delete", "table", "ip", "rmqlbtest"); err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("once h1's adverts reach h2 again: %v", err)
	}
	if err := waitFor(5*time.Second, func() (bool, error) {
		in, err := d1.instance("vip")
		if err != nil {
			return false, err
		}
		return in.raw["send_failing"] == nil, fmt.Errorf("send_failing %v", in.raw["send_failing"])
	}); err != nil {
		t.Errorf("h1's adverts are sent again, yet: %v", err)
	}
}
