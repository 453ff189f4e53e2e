package integration

import (
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// TestVIPConflict: a host that holds the VIP beside the master is a
// conflict on the master once it sends an ARP with the VIP as its sender
// (here the client host, the address added by hand, connecting from it to
// a third host): rmqlb status exits 1 and names the address and that
// host's MAC. A host that sends nothing is found by the master's ARP
// probe, sent with each refresh of its announcements, which it answers. VRRP's own moves are none: h2 taking
// the VIP over when h1 stops, and h1 preempting it back, count no
// conflict on either host.
func TestVIPConflict(t *testing.T) {
	l, d1, d2 := startPair(t)
	d1.conf.Conflicts = true // the client's, below
	h1, h2, h3, client := l.Host("h1"), l.Host("h2"), l.Host("h3"), l.Host("client")

	// VRRP moves the VIP: h1 stops, h2 takes over, h1 starts again and
	// preempts. Each new master announces the VIP; none is a conflict.
	if err := d1.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d1.proc.Wait(10 * time.Second); err != nil {
		t.Fatalf("rmqlb on h1 after SIGTERM: %v", err)
	}
	if err := waitSoleHolder(l, h2, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	// Several of h2's master down intervals (about 0.4 s at 100 ms
	// adverts) as MASTER, h1's announcements of before heard meanwhile.
	time.Sleep(time.Second)
	d1.start()
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("after h1's restart: %v", err)
	}
	time.Sleep(time.Second)
	for _, d := range []*daemon{d1, d2} {
		in, err := d.instance("vip")
		if err != nil {
			t.Fatal(err)
		}
		if in.Conflict != nil {
			t.Errorf("%s counts a conflict after VRRP's own moves: %+v", d.host.Name, *in.Conflict)
		}
	}

	// The client holds the VIP too and connects from it to h3: with
	// Linux's default arp_announce (the lab sets 2 on every host), its
	// ARP request for h3 has the VIP as its sender.
	if out, err := client.Run("sysctl", "-qw", "net.ipv4.conf.all.arp_announce=0", "net.ipv4.conf."+netlab.Iface+".arp_announce=0"); err != nil {
		t.Fatalf("arp_announce on the client: %v: %s", err, out)
	}
	if out, err := client.Run("ip", "addr", "add", vipPfx.String(), "dev", netlab.Iface); err != nil {
		t.Fatalf("adding the VIP on the client: %v: %s", err, out)
	}
	if out, err := client.Run("ip", "neigh", "flush", "dev", netlab.Iface); err != nil {
		t.Fatalf("flushing the client's neighbours: %v: %s", err, out)
	}
	if err := client.Do(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: vip.AsSlice()}, Timeout: time.Second}
		if c, err := d.Dial("tcp", h3.Addr.String()+":9"); err == nil {
			c.Close()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mac := client.MAC.String()
	if err := waitFor(5*time.Second, func() (bool, error) {
		in, err := d1.instance("vip")
		return err == nil && in.Conflict != nil, err
	}); err != nil {
		neigh, _ := client.Run("ip", "neigh")
		t.Fatalf("no conflict on h1: %v\nthe client's neighbours:\n%s\nh1's log:\n%s", err, neigh, d1.proc.Tail(40))
	}
	if in, _ := d1.instance("vip"); in.Conflict.Addr != vip.String() || in.Conflict.Count != 1 || in.State != "MASTER" {
		t.Errorf("h1: %s, conflict %+v; want MASTER, one conflict of %s", in.State, *in.Conflict, vip)
	}
	out, err := exec.Command(d1.bin, "status", "--socket", d1.sock).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != control.ExitDegraded {
		t.Errorf("rmqlb status on h1: %v, want exit %d", err, control.ExitDegraded)
	}
	for _, w := range []string{
		"VIP " + vip.String() + " of vip announced by the host with MAC " + mac + " while this host is MASTER",
		"VIP conflict vip: " + vip.String() + " announced by the host with MAC " + mac + " while MASTER",
	} {
		if !strings.Contains(string(out), w) {
			t.Errorf("rmqlb status on h1 lacks %q:\n%s", w, out)
		}
	}
	if in, err := d2.instance("vip"); err != nil || in.Conflict != nil {
		t.Errorf("h2, BACKUP, counts a conflict: %+v, %v", in, err)
	}

	// The client sends nothing more with the VIP as its sender; h1's ARP
	// probe, sent with each refresh of its announcements, makes it answer.
	d1.reload(func(c *daemonConf) { c.VRRP[0].GARPRefresh = 500 * time.Millisecond })
	if err := waitFor(5*time.Second, func() (bool, error) {
		in, err := d1.instance("vip")
		return err == nil && in.Conflict != nil && in.Conflict.Count >= 2, err
	}); err != nil {
		in, _ := d1.instance("vip")
		t.Errorf("the client, probed, counts no second conflict on h1: %v (%+v)", err, in.Conflict)
	}
}
