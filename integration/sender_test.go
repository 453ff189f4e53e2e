package integration

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/vrrp/sendproc"
)

// senderGlobal is the daemon key that makes a periodic advert go out from
// the advert sender process.
const senderGlobal = "vrrp_sender: process\n"

// senderOf waits for the advert sender process of d and returns its pid.
func senderOf(t *testing.T, d *daemon) int {
	t.Helper()
	var pid int
	if err := waitFor(5*time.Second, func() (bool, error) {
		pid = netlab.ChildWith(d.proc.Pid(), "vrrp-sender")
		return pid != 0, nil
	}); err != nil {
		t.Fatalf("no advert sender process under rmqlb on %s: %v", d.host.Name, err)
	}
	return pid
}

// senderOfInstance returns what the status says of who sends d's adverts.
func senderOfInstance(t *testing.T, d *daemon) string {
	t.Helper()
	in, err := d.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := in.raw["sender"].(string)
	return s
}

// waitProcessSends waits until d's status says that its sender process
// sends the adverts, and fails the test, saying when (what), if it does
// not.
func waitProcessSends(t *testing.T, d *daemon, what string) {
	t.Helper()
	if err := waitFor(3*time.Second, func() (bool, error) {
		return strings.HasPrefix(senderOfInstance(t, d), "process ("), nil
	}); err != nil {
		t.Fatalf("%s: %s's adverts not sent by its sender process: sender %q", what, d.host.Name, senderOfInstance(t, d))
	}
}

// senderMasterBesideKeepalived starts rmqlb with its sender process on
// h1 (priority 150) and keepalived 2.2.7 on h2 (priority 100), VRRPv3 at
// interval, and waits until h1 is MASTER, the VIP's only holder.
func senderMasterBesideKeepalived(t *testing.T, l *netlab.Lab, interval time.Duration) (*daemon, *netlab.Proc) {
	t.Helper()
	h1, h2 := l.Host("h1"), l.Host("h2")
	d1 := startDaemon(t, l, h1, daemonConf{Global: senderGlobal, VRRP: []vrrpConf{{Priority: 150, Advert: interval}}})
	if err := d1.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatalf("h1 alone: %v", err)
	}
	kp, err := h2.StartKeepalived(netlab.KeepalivedInstance{VRID: 1, Priority: 100, Version: 3, Advert: interval,
		VIPs: []netip.Prefix{vipPfx}})
	if err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("after start: %v", err)
	}
	return d1, kp
}

// TestVRRPSenderProcess: rmqlb with vrrp_sender: process as master (h1)
// and lowest backup (h3), keepalived 2.2.7 as the middle backup (h2), at
// VRRPv3 100 ms. The master's adverts go out from its sender process
// (status says so, and keepalived stays BACKUP), nothing changes state in
// steady state, a cut of the master's link moves the VIP to keepalived
// within the protocol's bound, the link's return brings it back (preempt,
// the sender process taking the adverts again), a hung master daemon
// (SIGSTOP) loses the VIP once its sender process stops on the liveness
// timeout and gets it back when resumed, and a SIGKILL of the master's
// daemon ends its sender process too, so that keepalived takes the VIP
// within Master_Down_Interval plus slack.
func TestVRRPSenderProcess(t *testing.T) {
	l := newLab(t, "keepalived")
	serveBanners(t, l)
	h1, h2, h3 := l.Host("h1"), l.Host("h2"), l.Host("h3")
	d1, kp := senderMasterBesideKeepalived(t, l, advert)
	d3 := startDaemon(t, l, h3, daemonConf{Global: senderGlobal, VRRP: []vrrpConf{{Priority: 50}}})
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("h3 started: %v", err)
	}
	waitProcessSends(t, d1, "after start")
	if err := waitFor(3*time.Second, func() (bool, error) {
		return strings.HasPrefix(senderOfInstance(t, d3), "process, idle"), nil
	}); err != nil {
		t.Errorf("h3 (BACKUP) sender %q, want the process idle", senderOfInstance(t, d3))
	}
	senderOf(t, d3)

	// Steady state: no state change anywhere, the master's counters grow.
	before1, _ := d1.instance("vip")
	before3, _ := d3.instance("vip")
	if err := stableHolder(l, h1, 3*time.Second); err != nil {
		t.Error(err)
	}
	after1, _ := d1.instance("vip")
	after3, _ := d3.instance("vip")
	if after1.Counters.Transitions != before1.Counters.Transitions || after3.Counters.Transitions != before3.Counters.Transitions {
		t.Errorf("state changes in steady state: h1 %d->%d, h3 %d->%d", before1.Counters.Transitions, after1.Counters.Transitions,
			before3.Counters.Transitions, after3.Counters.Transitions)
	}
	if sent := after1.Counters.AdvertsSent - before1.Counters.AdvertsSent; sent < 20 {
		t.Errorf("h1 counted %d adverts sent in 3 s at 100 ms", sent)
	}
	t.Logf("h1 sender: %s; %d adverts in 3 s", senderOfInstance(t, d1), after1.Counters.AdvertsSent-before1.Counters.AdvertsSent)

	// A cut of the master's link: keepalived takes over within the bound.
	r, cut, _ := cutOver(t, l, h1, h2, 3*time.Second, 500*time.Millisecond, 400*time.Millisecond)
	out, ok := failoverOutage(r, cut, "h2")
	if !ok {
		t.Fatalf("client never reached h2 after the cut: %s", r)
	}
	within(t, "sender process, link cut: client outage", out.Duration(), linkCutBound(advert, 100))
	if err := l.RestoreLink(h1); err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("h1 did not preempt back: %v", err)
	}
	waitProcessSends(t, d1, "h1 MASTER again")

	// A hung daemon (SIGSTOP): its sender process stops advertising for
	// it after the liveness timeout, and keepalived takes over; resumed,
	// the daemon is master again (preempt) and hands the adverts to its
	// sender process once more.
	time.Sleep(300 * time.Millisecond)
	hang := time.Now()
	if err := d1.proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(5*time.Second, func() (bool, error) { return h2.HasAddr(vip) }); err != nil {
		d1.proc.Signal(syscall.SIGCONT)
		t.Fatalf("keepalived did not take over from a hung daemon: %v", err)
	}
	hungFor := time.Since(hang)
	if err := d1.proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	b := linkCutBound(advert, 100)
	b.d += sendproc.LivenessTimeout(advert)
	b.why = fmt.Sprintf("sender's liveness timeout %v + %s", sendproc.LivenessTimeout(advert), b.why)
	within(t, "sender process, hung daemon: keepalived holds the VIP", hungFor, b)
	if hungFor < sendproc.LivenessTimeout(advert) {
		t.Errorf("keepalived took over %v after the daemon hung, before the sender's liveness timeout %v", hungFor, sendproc.LivenessTimeout(advert))
	}
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("h1 resumed: %v", err)
	}
	waitProcessSends(t, d1, "h1 resumed")

	// SIGKILL of the master's daemon: its sender process exits, and the
	// VIP moves as it would without one.
	sender := senderOf(t, d1)
	time.Sleep(300 * time.Millisecond)
	took := make(chan time.Duration, 1)
	kill := time.Now()
	go func() {
		if waitFor(3*time.Second, func() (bool, error) { return h2.HasAddr(vip) }) == nil {
			took <- time.Since(kill)
		}
		close(took)
	}()
	if err := d1.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d1.proc.Wait(5 * time.Second)
	if err := waitFor(2*time.Second, func() (bool, error) { return netlab.Exited(sender), nil }); err != nil {
		t.Fatalf("the sender process %d outlived its daemon", sender)
	}
	t.Logf("sender process exited %v after its daemon was killed", time.Since(kill).Round(time.Millisecond))
	d, ok := <-took
	if !ok {
		t.Fatalf("keepalived on h2 did not take over from a killed master\n%s", kp.Tail(20))
	}
	within(t, "sender process, daemon SIGKILL: keepalived holds the VIP", d, linkCutBound(advert, 100))
}

// TestSenderProcessFollowsInstances: the advert sender process runs only
// while a VRRP instance does. A reload that removes the last instance
// stops it; one that adds an instance whose interface does not exist adds
// it, waiting in FAULT, with the process; removing that one stops the
// process again; one that adds a good instance starts it again, and the
// instance's adverts go out from it.
func TestSenderProcessFollowsInstances(t *testing.T) {
	l := newLab(t)
	h1, h2 := l.Host("h1"), l.Host("h2")
	// A listener on h1's own address keeps the file valid without a VRRP
	// instance.
	listeners := fmt.Sprintf(`  - name: local
    bind: %s:5673
    check: {type: tcp, interval: 1s, timeout: 500ms}
    backends:
      - {name: h2, address: %s:5672}
`, h1.Addr, h2.Addr)
	d := startDaemon(t, l, h1, daemonConf{Global: senderGlobal, VRRP: []vrrpConf{{Priority: 150}}, Listeners: listeners})
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	first := senderOf(t, d)
	good := d.conf.VRRP

	out := d.reload(func(c *daemonConf) { c.VRRP = nil })
	if !strings.Contains(out, "applied: vrrp instance vip removed") {
		t.Fatalf("removing the instance: reload said:\n%s", out)
	}
	// The reload answers once the process is stopped.
	if pid := netlab.ChildWith(d.proc.Pid(), "vrrp-sender"); pid != 0 {
		t.Fatalf("sender process %d still runs with no VRRP instance (first was %d)", pid, first)
	}
	if !netlab.Exited(first) {
		t.Fatalf("sender process %d did not exit", first)
	}

	out = d.reload(func(c *daemonConf) { c.VRRP = []vrrpConf{{Priority: 150, Interface: "nosuch0"}} })
	if !strings.Contains(out, "applied: vrrp instance vip added") {
		t.Fatalf("adding an instance on a missing interface: reload said:\n%s", out)
	}
	if in, err := d.instance("vip"); err != nil || in.State != "FAULT" || !strings.Contains(in.Reason, "interface nosuch0 does not exist") {
		t.Fatalf("the instance on a missing interface: %+v, %v; want FAULT naming it", in, err)
	}
	waiting := senderOf(t, d)
	out = d.reload(func(c *daemonConf) { c.VRRP = nil })
	if !strings.Contains(out, "applied: vrrp instance vip removed") {
		t.Fatalf("removing the waiting instance: reload said:\n%s", out)
	}
	if pid := netlab.ChildWith(d.proc.Pid(), "vrrp-sender"); pid != 0 || !netlab.Exited(waiting) {
		t.Fatalf("sender process %d still runs after the waiting instance was removed (it was %d)", pid, waiting)
	}

	out = d.reload(func(c *daemonConf) { c.VRRP = good })
	if !strings.Contains(out, "applied: vrrp instance vip added") {
		t.Fatalf("adding the instance back: reload said:\n%s", out)
	}
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if second := senderOf(t, d); second == first {
		t.Fatalf("sender process %d is the one stopped", second)
	}
	if err := waitFor(3*time.Second, func() (bool, error) {
		return strings.HasPrefix(senderOfInstance(t, d), "process ("), nil
	}); err != nil {
		t.Fatalf("the added instance's adverts are not sent by the sender process: sender %q", senderOfInstance(t, d))
	}
}

// TestStuckSenderProcess: the master's advert sender process stops
// running without dying (SIGSTOP), and with it the master's adverts.
// keepalived (h2, lower priority) takes over after its
// Master_Down_Interval. rmqlb on h1, whose own loop runs on, hears
// keepalived advertise as MASTER with a lower priority: it answers with
// an advert of its own at once, at which keepalived gives way, and asks
// its sender process for a report, sending its adverts itself too until
// one comes; it gets none within sendproc.CheckWithin, kills the process
// and sends its adverts alone, within the check bound, before a process
// silent for 2.5 s would have been taken for stuck. The next sender
// process takes the adverts again, and h1 stays the VIP's only holder.
//
// At 100 ms adverts and at 10 ms, where the check (120 ms) lasts several
// of keepalived's Master_Down_Interval (36 ms): h1's own adverts while it
// waits for the answer keep keepalived from taking over again.
func TestStuckSenderProcess(t *testing.T) {
	for _, interval := range []time.Duration{advert, 10 * time.Millisecond} {
		t.Run(interval.String(), func(t *testing.T) { testStuckSender(t, interval) })
	}
}

func testStuckSender(t *testing.T, interval time.Duration) {
	l := newLab(t, "keepalived")
	h1, h2 := l.Host("h1"), l.Host("h2")
	d1, kp := senderMasterBesideKeepalived(t, l, interval)
	waitProcessSends(t, d1, "after start")
	pid := senderOf(t, d1)
	if err := stableHolder(l, h1, time.Second); err != nil {
		t.Fatal(err)
	}

	// Every moment keepalived holds the VIP from the stop on: too short
	// for the usual waits now.
	var held []time.Duration
	watched, done := make(chan struct{}), make(chan struct{})
	stop := time.Now()
	go func() {
		defer close(watched)
		for {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if ok, _ := h2.HasAddr(vip); ok {
				held = append(held, time.Since(stop))
			}
		}
	}()
	masters := strings.Count(kp.Output(), "Entering MASTER STATE")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT) // killed by then, unless the test failed
	if err := waitFor(5*time.Second, func() (bool, error) {
		return strings.Contains(d1.proc.Output(), "no report within"), nil
	}); err != nil {
		close(done)
		t.Fatalf("h1 did not find its sender process stuck by asking it for a report:\n%s", d1.proc.Tail(30))
	}
	found := time.Since(stop)
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		close(done)
		t.Fatalf("h1 did not keep or take back its VIP: %v\n%s", err, d1.proc.Tail(20))
	}
	close(done)
	<-watched
	takeovers := strings.Count(kp.Output(), "Entering MASTER STATE") - masters
	if takeovers == 0 {
		t.Errorf("keepalived never took over while h1's adverts stopped: the split brain this test is about did not happen\n%s", kp.Tail(20))
	}
	seen := "not seen on h2 by a watch every 2 ms"
	if len(held) > 0 {
		seen = fmt.Sprintf("seen on h2 from %v to %v after the stop (%d looks)", held[0].Round(time.Millisecond), held[len(held)-1].Round(time.Millisecond), len(held))
	}
	t.Logf("sender process stopped at %v adverts: keepalived took over and gave way (%d times MASTER; the VIP %s); h1 found its process stuck %v after the stop",
		interval, takeovers, seen, found.Round(time.Millisecond))
	// One takeover, the one that tells h1: without h1's own adverts while
	// it waits for the answer, keepalived takes over again at every
	// Master_Down_Interval of the check (3 or 4 times in all at 10 ms).
	// One more is a margin for a loaded machine.
	if takeovers > 2 {
		t.Errorf("keepalived took over %d times while h1 waited for its sender process's answer, want 1 (2 at most)\n%s", takeovers, kp.Tail(30))
	}
	s, sw := slack()
	md := masterDown(interval, 100)
	if in, err := d1.instance("vip"); err != nil {
		t.Error(err)
	} else if lm, _ := in.raw["lower_master"].(map[string]any); lm == nil || lm["from"] != h2.Addr.String() {
		t.Errorf("h1's status: lower_master %v, want keepalived's takeover from %s", in.raw["lower_master"], h2.Addr)
	}
	within(t, "stuck sender process: found by h1", found, bound{md + interval + sendproc.CheckWithin(interval) + s,
		fmt.Sprintf("Master_Down_Interval %v + advert %v + sender check %v + %s", md, interval, sendproc.CheckWithin(interval), sw)})
	if err := waitFor(5*time.Second, func() (bool, error) {
		np := netlab.ChildWith(d1.proc.Pid(), "vrrp-sender")
		return np != 0 && np != pid && strings.HasPrefix(senderOfInstance(t, d1), "process ("), nil
	}); err != nil {
		t.Fatalf("no new sender process took h1's adverts: sender %q", senderOfInstance(t, d1))
	}
	if err := stableHolder(l, h1, 2*time.Second); err != nil {
		t.Errorf("after the new sender process took the adverts: %v", err)
	}
}
