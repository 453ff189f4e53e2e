package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// TestVRRPAdvertsCannotBeSent: the master's adverts cannot be sent (a
// firewall rule of its host drops VRRP on output, nftables in h1's
// namespace, so that sendto fails with EPERM): the backup hears nothing,
// takes over beside the master (a split brain), and the master's `rmqlb
// status` says so, degraded (exit 1), naming the destination and why, in
// its verdict, its JSON (`send_failing`) and its text. Once the rule is
// gone the backup gives way and the status is healthy again. With the
// advert sender process (its reports carry the failures of the periodic
// adverts) and inline.
func TestVRRPAdvertsCannotBeSent(t *testing.T) {
	for _, sender := range []string{"process", "inline"} {
		t.Run(sender, func(t *testing.T) { testAdvertsCannotBeSent(t, sender) })
	}
}

// dropVRRP makes h's firewall (nftables, in h's namespace) drop VRRP at
// hook (input, output), and returns what removes the rule again.
func dropVRRP(t *testing.T, h *netlab.Host, hook string) (allow func()) {
	t.Helper()
	for _, rule := range [][]string{
		{"add", "table", "ip", "rmqlbtest"},
		{"add", "chain", "ip", "rmqlbtest", hook, "{ type filter hook " + hook + " priority 0; }"},
		{"add", "rule", "ip", "rmqlbtest", hook, "ip", "protocol", "vrrp", "drop"},
	} {
		if _, err := h.Run(append([]string{"nft"}, rule...)...); err != nil {
			t.Fatalf("%v (scripts/setup.sh installs nftables)", err)
		}
	}
	return func() {
		t.Helper()
		if _, err := h.Run("nft", "delete", "table", "ip", "rmqlbtest"); err != nil {
			t.Fatal(err)
		}
	}
}

// waitReasons waits until the reasons of d's verdict include one that
// contains want (when want is "": until there are none), and returns the
// reasons last read.
func waitReasons(d *daemon, timeout time.Duration, want string) ([]any, error) {
	var reasons []any
	err := waitFor(timeout, func() (bool, error) {
		s, err := d.status()
		if err != nil {
			return false, err
		}
		reasons, _ = s.raw.(map[string]any)["verdict"].(map[string]any)["reasons"].([]any)
		if want == "" {
			return len(reasons) == 0, fmt.Errorf("reasons %q", reasons)
		}
		return strings.Contains(fmt.Sprint(reasons), want), fmt.Errorf("no reason with %q in %q", want, reasons)
	})
	return reasons, err
}

func testAdvertsCannotBeSent(t *testing.T, sender string) {
	l := newLab(t)
	h1, h2 := l.Host("h1"), l.Host("h2")
	global := "vrrp_sender: " + sender + "\n"
	d1 := startDaemon(t, l, h1, daemonConf{Global: global, VRRP: []vrrpConf{{Priority: 150}}})
	// h2, MASTER beside h1 and hearing none of its adverts, counts h1's
	// announcements at its answers as VIP conflicts, as it should.
	d2 := startDaemon(t, l, h2, daemonConf{Global: global, VRRP: []vrrpConf{{Priority: 100}}, Conflicts: true})
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("after start: %v", err)
	}
	if err := stableHolder(l, h1, time.Second); err != nil {
		t.Fatal(err)
	}
	if in, err := d1.instance("vip"); err != nil || in.raw["send_failing"] != nil {
		t.Fatalf("h1 before: send_failing %v (%v)", in.raw["send_failing"], err)
	}

	allowVRRP := dropVRRP(t, h1, "output")
	dst := "224.0.0.18"
	if err := d2.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatalf("h2 did not take over while h1's adverts could not reach it: %v", err)
	}
	reasons, err := waitReasons(d1, 5*time.Second, "adverts to "+dst+" cannot be sent")
	if err != nil {
		t.Fatalf("h1's verdict does not say its adverts cannot be sent: %v", err)
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
	// The periodic adverts fail too, not only the answers to h2 (about
	// three a second): ten a second, counted from the sender process's
	// reports when it sends them.
	if err := waitFor(5*time.Second, func() (bool, error) {
		in, err := d1.instance("vip")
		if err != nil {
			return false, err
		}
		f, _ = in.raw["send_failing"].(map[string]any)
		n, _ := f["failed"].(float64)
		return n >= 25, fmt.Errorf("send_failing %v", f)
	}); err != nil {
		t.Errorf("h1's failed periodic adverts not counted: %v", err)
	}
	t.Logf("h1 (%s sends): %v", sender, f)

	allowVRRP()
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

// TestVRRPOneWaySplitBrain: the backup's host drops VRRP on input (an
// nftables rule in h2's namespace): h2 hears nothing, takes over and stays
// MASTER beside h1, which hears it advertise with a lower priority again
// and again and answers in vain. Once that has gone on for 10 s, h1's
// `rmqlb status` is degraded, naming h2, while both hold the VIP (a single
// lower-priority master, which an answer settles, is not a fault); h2's
// is too, as h1 announces the VIP at each answer (a VIP conflict). Once
// the rule is gone h2 hears h1 and gives way, and h1's status is healthy
// again within that window.
func TestVRRPOneWaySplitBrain(t *testing.T) {
	l := newLab(t)
	h1, h2 := l.Host("h1"), l.Host("h2")
	d1 := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{{Priority: 150}}})
	// h2 counts h1's announcements as VIP conflicts: the test's point.
	d2 := startDaemon(t, l, h2, daemonConf{VRRP: []vrrpConf{{Priority: 100}}, Conflicts: true})
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("after start: %v", err)
	}
	if err := stableHolder(l, h1, time.Second); err != nil {
		t.Fatal(err)
	}
	allowVRRP := dropVRRP(t, h2, "input")
	cut := time.Now()
	if err := d2.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatalf("h2 did not take over while it heard nothing: %v", err)
	}
	kept := "has advertised as MASTER beside this MASTER for"
	reasons, err := waitReasons(d1, 20*time.Second, kept)
	if err != nil {
		t.Fatalf("h1's verdict does not say that h2 keeps advertising as MASTER: %v", err)
	}
	found := time.Since(cut)
	if !strings.Contains(fmt.Sprint(reasons), h2.Addr.String()) {
		t.Errorf("h1's verdict does not name h2: %q", reasons)
	}
	if ok, _ := h2.HasAddr(vip); !ok || d1.state() != "MASTER" {
		t.Errorf("h1 %s and h2 holding the VIP %v: want both to hold it (the split brain the verdict names)", d1.state(), ok)
	}
	if txt := d1.mustStatusText(); !strings.Contains(txt, "not hearing this host's answers either") {
		t.Errorf("h1's status text does not say the lower-priority master keeps on:\n%s", txt)
	}
	t.Logf("h1 degraded %v after h2 stopped hearing VRRP", found.Round(time.Millisecond))
	// h2, MASTER, hears h1 announce the VIP again at each of its answers,
	// and no advert: another host holds its VIP, which it says too.
	if _, err := waitReasons(d2, 5*time.Second, "VIP "+vip.String()+" of vip announced by"); err != nil {
		t.Errorf("h2's verdict does not say that another host announces its VIP: %v", err)
	}

	allowVRRP()
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("once h2 hears h1 again: %v", err)
	}
	if _, err := waitReasons(d1, 15*time.Second, ""); err != nil {
		t.Errorf("h1 after h2 gave way: %v", err)
	}
}
