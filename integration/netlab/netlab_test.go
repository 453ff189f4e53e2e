package netlab

import (
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		if gone, err := Sweep(); len(gone) > 0 || err != nil {
			println("netlab: swept leftovers", len(gone), err)
		}
	}
	os.Exit(m.Run())
}

func testLab(t *testing.T) *Lab {
	t.Helper()
	Require(t, "bridge")
	l, err := New(t, Config{Hosts: []HostSpec{
		{Name: "h1", Addr: netip.MustParsePrefix("10.77.0.1/24")},
		{Name: "h2", Addr: netip.MustParsePrefix("10.77.0.2/24")},
		{Name: "client", Addr: netip.MustParsePrefix("10.77.0.50/24")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLabBasics(t *testing.T) {
	l := testLab(t)
	h1, c := l.Host("h1"), l.Host("client")
	out, err := c.Run("getent", "hosts", "h1")
	if err != nil || !strings.HasPrefix(string(out), "10.77.0.1 ") {
		t.Fatalf("getent hosts h1 in client = %q, %v", out, err)
	}
	if _, err := h1.ServeBanner(netip.AddrPortFrom(h1.Addr, 7000)); err != nil {
		t.Fatal(err)
	}
	var banner string
	if err := c.Do(func() error {
		conn, err := net.DialTimeout("tcp", "10.77.0.1:7000", time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		b, err := io.ReadAll(conn)
		banner = string(b)
		return err
	}); err != nil || banner != "h1\n" {
		t.Fatalf("banner from h1 = %q, %v", banner, err)
	}
	n, ok, err := c.Neighbour(h1.Addr)
	if err != nil || !ok {
		t.Fatalf("neighbour of h1 in client: %v %v", ok, err)
	}
	if n.MAC.String() != h1.MAC.String() {
		t.Errorf("client neighbour h1 = %s, want %s", n.MAC, h1.MAC)
	}
	if ok, err := h1.HasAddr(h1.Addr); err != nil || !ok {
		t.Errorf("h1 HasAddr(own) = %v, %v", ok, err)
	}
	// Sockets made in Do belong to the namespace; the thread is restored.
	var hostName string
	if err := h1.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/dev")
		hostName = string(b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hostName, "eth0") {
		t.Errorf("inside Do, /proc/thread-self/net/dev has no eth0:\n%s", hostName)
	}
}

// TestProbeMeasuresCut checks that the probe sees a link cut as one outage of
// about the cut's length, and that the banner names the answering host.
func TestProbeMeasuresCut(t *testing.T) {
	l := testLab(t)
	h1, c := l.Host("h1"), l.Host("client")
	target := netip.AddrPortFrom(h1.Addr, 7000)
	if _, err := h1.ServeBanner(target); err != nil {
		t.Fatal(err)
	}
	p, err := c.StartProbe(target, ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	cut := time.Now()
	if err := l.CutLink(h1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := l.RestoreLink(h1); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	time.Sleep(300 * time.Millisecond)
	r := p.Stop()
	t.Logf("probe: %s", r)
	if len(r.Owners) == 0 || r.Owners[0].Banner != "h1" {
		t.Errorf("owners = %v, want h1", r.Owners)
	}
	o := r.LongestOutage
	if !o.Recovered {
		t.Fatalf("no recovered outage: %+v", r.Outages)
	}
	// The outage starts at most one timeout before the cut (an attempt
	// whose SYN was lost) and ends after the restore.
	if o.From.Before(cut.Add(-250*time.Millisecond)) || o.To.Before(restored.Add(-50*time.Millisecond)) {
		t.Errorf("outage %v..%v does not cover the cut %v..%v", o.From, o.To, cut, restored)
	}
	if d := o.Duration(); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("outage %v for a 500 ms cut", d)
	}
}

func TestSweepLeavesLiveLabs(t *testing.T) {
	l := testLab(t)
	if _, err := Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + l.Switch); err != nil {
		t.Fatalf("Sweep deleted a live lab: %v", err)
	}
	// A lab of a dead pid is swept.
	dead := "nl999999999_abcd-h1"
	if err := ipCmd("netns", "add", dead); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNS(dead) })
	gone, err := Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || gone[0] != dead {
		t.Errorf("Sweep = %v, want [%s]", gone, dead)
	}
}
