package integration

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// reload rewrites the daemon's file with change applied to its
// configuration and runs `rmqlb reload`; it returns the command's output.
func (d *daemon) reload(change func(*daemonConf)) string {
	d.t.Helper()
	out, err := d.tryReload(change)
	if err != nil {
		d.t.Fatalf("rmqlb reload on %s: %v\n%s", d.host.Name, err, out)
	}
	return out
}

// tryReload is reload for a reload that may be refused in part: it
// returns the command's output and its error (an *exec.ExitError for
// exit status 1).
func (d *daemon) tryReload(change func(*daemonConf)) (string, error) {
	d.t.Helper()
	change(&d.conf)
	if err := os.WriteFile(d.path, []byte(d.conf.yaml(d.host, d.sock)), 0o644); err != nil {
		d.t.Fatal(err)
	}
	out, err := exec.Command(d.bin, "reload", "--socket", d.sock).CombinedOutput()
	return string(out), err
}

// dryRun writes the daemon's file with change applied to a copy of its
// configuration (its own stays as it was) and runs `rmqlb reload
// --dry-run`; it returns the command's output.
func (d *daemon) dryRun(change func(*daemonConf)) string {
	d.t.Helper()
	c := d.conf
	c.VRRP = slices.Clone(d.conf.VRRP)
	change(&c)
	if err := os.WriteFile(d.path, []byte(c.yaml(d.host, d.sock)), 0o644); err != nil {
		d.t.Fatal(err)
	}
	out, err := exec.Command(d.bin, "reload", "--dry-run", "--socket", d.sock).CombinedOutput()
	if err != nil {
		d.t.Fatalf("rmqlb reload --dry-run on %s: %v\n%s", d.host.Name, err, out)
	}
	return string(out)
}

// TestVRRPReloadLive: priorities and addresses changed by `rmqlb reload`
// on running daemons move the VIP exactly as the new priorities say, with
// the two state changes a move needs and no other, and without a failed
// connect of the client: a backup raised but still below the master
// changes nothing; the master lowered below the backup gives the VIP to it
// (the backup preempts); raised again it takes it back; a second VIP added
// to the group (backup first, then master) is held by the master at once,
// with no state change and no advert dropped; so is a third one added in
// the other order (master first), the backup's status naming both lists
// until it is reloaded too. Before the master is lowered, a dry run of it
// says so and changes nothing.
func TestVRRPReloadLive(t *testing.T) {
	l, d1, d2 := startPair(t)
	h1, h2 := d1.host, d2.host
	transitions := func() uint64 {
		t.Helper()
		var n uint64
		for _, d := range []*daemon{d1, d2} {
			in, err := d.instance("vip")
			if err != nil {
				t.Fatal(err)
			}
			n += in.Counters.Transitions
		}
		return n
	}
	probe, err := l.Host("client").StartProbe(vipAP, netlab.ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	priority := func(p int) func(*daemonConf) { return func(c *daemonConf) { c.VRRP[0].Priority = p } }
	const settle = time.Second // ten adverts: time for a wrong move to show
	step := func(what string, d *daemon, change func(*daemonConf), holder *netlab.Host, moves uint64) {
		t.Helper()
		before := transitions()
		start := time.Now()
		if out := d.reload(change); !strings.Contains(out, "applied: vrrp instance vip updated") {
			t.Fatalf("%s: reload said:\n%s", what, out)
		}
		if err := waitSoleHolder(l, holder, 5*time.Second); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		took := time.Since(start)
		time.Sleep(settle)
		if err := stableHolder(l, holder, 300*time.Millisecond); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := transitions() - before
		t.Logf("%s: VIP on %s alone after %v; %d state changes", what, holder.Name, took.Round(time.Millisecond), got)
		if got != 2*moves {
			t.Errorf("%s: %d state changes, want %d", what, got, 2*moves)
		}
	}
	time.Sleep(300 * time.Millisecond)
	step("h2 100 -> 120, below h1's 150", d2, priority(120), h1, 0)
	before := transitions()
	want := "dry run: nothing was applied\nwould apply: vrrp instance vip updated: priority\n    priority 150 -> 50 (MASTER here)\n"
	if out := d1.dryRun(priority(50)); out != want {
		t.Fatalf("dry run of h1 150 -> 50:\n%s\nwant:\n%s", out, want)
	}
	time.Sleep(settle)
	if err := stableHolder(l, h1, 300*time.Millisecond); err != nil {
		t.Fatalf("after the dry run: %v", err)
	}
	if in, err := d1.instance("vip"); err != nil || in.ConfiguredPriority != 150 || transitions() != before {
		t.Fatalf("after the dry run: h1's instance %+v (%v), %d state changes", in, err, transitions()-before)
	}
	step("h1 150 -> 50, below h2's 120", d1, priority(50), h2, 1)
	step("h1 50 -> 150", d1, priority(150), h1, 1)

	vip2 := netip.MustParsePrefix("10.77.0.101/24")
	addVIP := func(c *daemonConf) { c.VRRP[0].VIPs = []netip.Prefix{vipPfx, vip2} }
	step("a second VIP on the backup h2", d2, addVIP, h1, 0)
	step("a second VIP on the master h1", d1, addVIP, h1, 0)
	if ok, err := h1.HasAddr(vip2.Addr()); err != nil || !ok {
		t.Errorf("h1, master, does not hold the added VIP %s: %v", vip2, err)
	}
	if ok, _ := h2.HasAddr(vip2.Addr()); ok {
		t.Errorf("h2, backup, holds the added VIP %s", vip2)
	}

	// The other order: a third VIP on the master first. h2, still on two,
	// accepts h1's adverts, which share them, and stays BACKUP; its status
	// names both lists until it is reloaded too.
	vip3 := netip.MustParsePrefix("10.77.0.102/24")
	addVIP3 := func(c *daemonConf) { c.VRRP[0].VIPs = []netip.Prefix{vipPfx, vip2, vip3} }
	step("a third VIP on the master h1 first", d1, addVIP3, h1, 0)
	differ := fmt.Sprintf("list the VIPs %s, %s, %s, this host's virtual_ipaddress %s, %s", vipPfx.Addr(), vip2.Addr(), vip3.Addr(), vipPfx.Addr(), vip2.Addr())
	if reasons, err := waitReasons(d2, 5*time.Second, differ); err != nil {
		t.Errorf("h2 hearing h1's three VIPs: %v", err)
	} else {
		t.Logf("h2 hearing h1's three VIPs: %q", reasons)
	}
	step("the third VIP on the backup h2", d2, addVIP3, h1, 0)
	if err := waitFor(15*time.Second, func() (bool, error) {
		s, err := d2.status()
		if err != nil {
			return false, err
		}
		reasons := fmt.Sprint(s.raw.(map[string]any)["verdict"].(map[string]any)["reasons"])
		return !strings.Contains(reasons, "list the VIPs"), fmt.Errorf("reasons %s", reasons)
	}); err != nil {
		t.Errorf("h2 once both list the same VIPs: %v", err)
	}
	if ok, err := h1.HasAddr(vip3.Addr()); err != nil || !ok {
		t.Errorf("h1, master, does not hold the added VIP %s: %v", vip3, err)
	}
	for _, d := range []*daemon{d1, d2} {
		in, err := d.instance("vip")
		if err != nil {
			t.Fatal(err)
		}
		if n := in.Counters.Dropped["address_mismatch"]; n != 0 {
			t.Errorf("%s dropped %d adverts as address_mismatch during the rolling change", d.host.Name, n)
		}
	}
	res := probe.Stop()
	t.Logf("probe: %s", res)
	if lost := lostConnects(t, res); lost != 0 {
		t.Errorf("%d failed connects, want 0", lost)
	}
}

// TestReloadMovesVIPBetweenInstances: a reload that moves a VIP from one
// VRRP instance of a daemon to another, both MASTER, leaves the VIP on the
// host: the instance giving it up removes it and the one taking it adds
// it right after (never finding it missing, or present as someone
// else's), and the status stays healthy.
func TestReloadMovesVIPBetweenInstances(t *testing.T) {
	l := newLab(t)
	h1 := l.Host("h1")
	moved := netip.MustParsePrefix("10.77.0.101/24")
	other := netip.MustParsePrefix("10.77.0.102/24")
	// The instance taking the VIP comes first in the file.
	d := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{
		{Name: "w", VRID: 2, Priority: 150, VIPs: []netip.Prefix{other}},
		{Name: "vip", VRID: 1, Priority: 150, VIPs: []netip.Prefix{vipPfx, moved}},
	}})
	for _, name := range []string{"vip", "w"} {
		if err := waitFor(5*time.Second, func() (bool, error) {
			in, err := d.instance(name)
			return err == nil && in.State == "MASTER", nil
		}); err != nil {
			t.Fatalf("%s not MASTER: %v", name, err)
		}
	}
	out := d.reload(func(c *daemonConf) {
		c.VRRP[0].VIPs = []netip.Prefix{other, moved}
		c.VRRP[1].VIPs = []netip.Prefix{vipPfx}
	})
	if !strings.Contains(out, "applied: vrrp instance vip updated") || !strings.Contains(out, "applied: vrrp instance w updated") {
		t.Fatalf("reload said:\n%s", out)
	}
	if err := waitFor(2*time.Second, func() (bool, error) { return h1.HasAddr(moved.Addr()) }); err != nil {
		t.Fatalf("%s not on h1 after the move: %v", moved, err)
	}
	time.Sleep(time.Second) // a late removal would show
	for _, a := range []netip.Addr{vip, moved.Addr(), other.Addr()} {
		if ok, err := h1.HasAddr(a); err != nil || !ok {
			t.Errorf("%s on h1: %v, %v", a, ok, err)
		}
	}
	cmd := exec.Command(d.bin, "status", "--socket", d.sock)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("rmqlb status after the move: %v\n%s", err, b)
	}
	// Given up, then added by its new instance: never found missing.
	if out := d.proc.Output(); strings.Contains(out, "VIP disappeared") || strings.Contains(out, "not acquired") {
		t.Errorf("the move was not clean:\n%s", d.proc.Tail(40))
	}
}
