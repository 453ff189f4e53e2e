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
	if _, err := h1.ServeBanner(h1.AddrPort(7000)); err != nil {
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

// TestProbeMeasuresCut checks that the probe sees a link cut as one outage
// covering the cut, about as long as the cut, and that the banner names the
// answering host. The bounds are what the probe guarantees plus
// SchedulingSlack: the probe, the ip(8) commands and this test all share a
// busy machine.
func TestProbeMeasuresCut(t *testing.T) {
	l := testLab(t)
	h1, c := l.Host("h1"), l.Host("client")
	target := h1.AddrPort(7000)
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
	down := time.Now() // the link is down by now
	time.Sleep(time.Second)
	restore := time.Now() // the link is still down here
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
	// An attempt fails because of the cut only if it was still connecting
	// when the link went down, so started at most one timeout before; and
	// none succeeds before the link is back. Both ends may be off by the
	// time the probe's goroutines wait for a CPU.
	if earliest := cut.Add(-DefaultProbeTimeout - SchedulingSlack); o.From.Before(earliest) {
		t.Errorf("outage began %v before the cut, want at most %v", cut.Sub(o.From), cut.Sub(earliest))
	}
	if earliest := restore.Add(-SchedulingSlack); o.To.Before(earliest) {
		t.Errorf("outage ended %v before the link was restored, want at most %v", restore.Sub(o.To), SchedulingSlack)
	}
	// Its length: the link was down for at least restore - down, at most
	// restored - cut; one probe interval of resolution either way.
	lo := restore.Sub(down) - DefaultProbeInterval - SchedulingSlack
	hi := restored.Sub(cut) + DefaultProbeTimeout + DefaultProbeInterval + SchedulingSlack
	t.Logf("outage %v for a link down %v..%v (bounds %v..%v)", o.Duration().Round(time.Millisecond),
		restore.Sub(down).Round(time.Millisecond), restored.Sub(cut).Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond))
	if d := o.Duration(); d < lo || d > hi {
		t.Errorf("outage %v, want %v..%v", d, lo, hi)
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

// TestCloseDeletesOnlyItsOwn: a lab whose name is taken (another lab of
// this process drew the same ID) fails to build, and its Close deletes
// nothing of the lab that holds the names.
func TestCloseDeletesOnlyItsOwn(t *testing.T) {
	Require(t, "bridge")
	rnd := [4]byte{0xfe, 0xed, 0xfa, 0xce}
	cfg := Config{Hosts: []HostSpec{{Name: "h1", Addr: netip.MustParsePrefix("10.77.0.1/24")}}}
	first, err := newLab(t, cfg, rnd)
	if err != nil {
		t.Fatal(err)
	}
	env, err := NewEnv("netlab-test-", false, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if _, err := newLab(env, cfg, rnd); err == nil {
		t.Fatal("a second lab with the same ID was built")
	}
	env.Close() // the failed lab's Close
	for _, p := range []string{"/run/netns/" + first.Switch, "/run/netns/" + first.Host("h1").NS, "/etc/netns/" + first.Host("h1").NS} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the failed lab's Close removed the first lab's %s: %v", p, err)
		}
	}
	first.Close()
	for _, p := range []string{"/run/netns/" + first.Switch, "/run/netns/" + first.Host("h1").NS, "/etc/netns/" + first.Host("h1").NS} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after Close: %v", p, err)
		}
	}
}
