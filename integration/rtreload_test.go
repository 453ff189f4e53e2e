package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// TestVRRPReloadRealTimePriority: `rmqlb reload` turning vrrp_rt_priority
// on, changing it and turning it off, and switching vrrp_sender to inline
// and back, on a running master and backup restarts their VRRP instances
// (and advert sender process) in place: the master stays master and the
// backup backup (the backup's state never changes, the master's only by
// its restarts, each straight into MASTER), the client's connects through
// the VIP never fail, and status shows the scheduling class and the sender
// asked for.
func TestVRRPReloadRealTimePriority(t *testing.T) {
	l, d1, d2 := startPair(t)
	h1 := d1.host
	probe, err := l.Host("client").StartProbe(vipAP, netlab.ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	backup, err := d2.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	set := func(d *daemon, prio, sender, want, wantSender, applied string) {
		t.Helper()
		global := "vrrp_sender: " + sender
		if prio != "0" {
			global += "\nvrrp_rt_priority: " + prio
		}
		out := d.reload(func(c *daemonConf) { c.Global = global })
		if !strings.Contains(out, applied+" (1 VRRP instances restarted") {
			t.Fatalf("reload of vrrp_rt_priority %s, vrrp_sender %s on %s: %s; want %q applied", prio, sender, d.host.Name, out, applied)
		}
		time.Sleep(500 * time.Millisecond) // five adverts: time for a wrong move to show
		in, err := d.instance("vip")
		if err != nil {
			t.Fatal(err)
		}
		if in.RealTime != want {
			t.Errorf("%s with vrrp_rt_priority %s: realtime %q, want %q", d.host.Name, prio, in.RealTime, want)
		}
		if got := senderOfInstance(t, d); !strings.HasPrefix(got, wantSender) {
			t.Errorf("%s with vrrp_sender %s: sender %q, want %s...", d.host.Name, sender, got, wantSender)
		}
		if in.Counters.Transitions != 1 {
			t.Errorf("%s after the restart: %d transitions, want 1 (its start, straight into %s)", d.host.Name, in.Counters.Transitions, in.State)
		}
		t.Logf("%s with vrrp_rt_priority %s, vrrp_sender %s: %s, realtime %q, sender %q", d.host.Name, prio, sender, in.State, in.RealTime, senderOfInstance(t, d))
	}
	set(d1, "10", "process", "SCHED_FIFO priority 10", "process (", "vrrp_rt_priority 10")
	set(d2, "10", "process", "SCHED_FIFO priority 10", "process, idle", "vrrp_rt_priority 10")
	set(d1, "20", "process", "SCHED_FIFO priority 20", "process (", "vrrp_rt_priority 20")
	set(d1, "20", "inline", "SCHED_FIFO priority 20", "", "vrrp_sender inline")
	set(d1, "0", "process", "", "process (", "vrrp_sender process")
	if err := waitSoleHolder(l, h1, time.Second); err != nil {
		t.Errorf("after the reloads: %v", err)
	}
	if st := d1.state(); st != "MASTER" {
		t.Errorf("h1 is %s, want MASTER", st)
	}
	if st := d2.state(); st != "BACKUP" {
		t.Errorf("h2 is %s, want BACKUP", st)
	}
	in, err := d2.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	if in.Counters.Transitions != 1 || !in.Since.Before(time.Now().Add(-time.Second)) {
		t.Errorf("h2: %d transitions since its restart, in BACKUP since %v; want its start only (before: %d)", in.Counters.Transitions, in.Since, backup.Counters.Transitions)
	}
	res := probe.Stop()
	t.Logf("probe: %s", res)
	if lost := lostConnects(t, res); lost != 0 {
		t.Errorf("%d failed connects, want 0", lost)
	}
	if len(res.Owners) != 1 {
		t.Errorf("the client saw owners %v, want h1 throughout", res.Owners)
	}
}
