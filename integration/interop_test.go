package integration

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// steadyFor is how long each interop pairing must hold without a state
// change: no flapping in 30 s of steady state.
const steadyFor = 30 * time.Second

// interopCase is one VRRP version setting shared by rmqlb and keepalived.
type interopCase struct {
	name     string
	version  int
	advert   time.Duration
	authPass string
}

var interopCases = []interopCase{
	{name: "v2-pass-1s", version: 2, advert: time.Second, authPass: "passwd"},
	{name: "v3-100ms", version: 3, advert: 100 * time.Millisecond},
}

// TestInteropKeepalived runs rmqlb and keepalived 2.2.7 on one VRID, each in
// the higher-priority role once, for VRRPv2 (auth PASS, 1 s) and VRRPv3
// (100 ms): the higher priority wins whichever daemon it is, there is no
// state change in 30 s of steady state, a cut of the master's link moves
// the VIP to the other daemon, and its return moves it back (preempt).
// An rmqlb master then hands the VIP over to keepalived (rmqlb vrrp
// release --wait, as in a migration one host at a time): keepalived takes
// over, rmqlb keeps the VIP until keepalived has announced it, and no
// client connect fails; ready, it takes the VIP back (keepalived, which
// drops the VIP as soon as it hears the higher priority, may fail a
// connect then: counted, not asserted). The four pairings run in
// parallel, each in its own lab.
func TestInteropKeepalived(t *testing.T) {
	netlab.Require(t, "bridge", "keepalived")
	rmqlbBinary(t)
	for _, c := range interopCases {
		for _, rmqlbHigh := range []bool{true, false} {
			name := c.name + "/keepalived-master"
			if rmqlbHigh {
				name = c.name + "/rmqlb-master"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				testInterop(t, c, rmqlbHigh)
			})
		}
	}
}

func testInterop(t *testing.T, c interopCase, rmqlbHigh bool) {
	l := newLab(t, "keepalived")
	serveBanners(t, l)
	high, low := l.Host("h1"), l.Host("h2")
	rHost, kHost := high, low
	rPrio, kPrio := 150, 100
	if !rmqlbHigh {
		rHost, kHost = low, high
		rPrio, kPrio = 100, 150
	}
	kp, err := kHost.StartKeepalived(netlab.KeepalivedInstance{
		VRID: 1, Priority: kPrio, Version: c.version, Advert: c.advert, AuthPass: c.authPass,
		VIPs: []netip.Prefix{vipPfx},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, l, rHost, daemonConf{VRRP: []vrrpConf{{
		Priority: rPrio, Version: c.version, Advert: c.advert, AuthPass: c.authPass,
	}}})
	wait := 4*masterDown(c.advert, 100) + 2*time.Second
	if err := waitSoleHolder(l, high, wait); err != nil {
		t.Fatalf("higher priority %s never sole holder: %v\nrmqlb: %s", high.Name, err, d.state())
	}
	rState := "BACKUP"
	if rmqlbHigh {
		rState = "MASTER"
	}
	if err := d.waitState(rState, wait); err != nil {
		t.Fatal(err)
	}

	// Steady state: one holder all along, no transition on either side.
	in0, err := d.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	// keepalived's transitions are counted in its log: the log must show
	// it in its role already, or a count of zero would prove nothing.
	kLog0 := kp.Output()
	kWant := "MASTER"
	if rmqlbHigh {
		kWant = "BACKUP"
	}
	if st := keepalivedStates(kLog0); len(st) == 0 || st[len(st)-1] != kWant {
		t.Fatalf("keepalived's log shows states %v before the steady state, want ... %s:\n%s", st, kWant, kLog0)
	}
	if err := stableHolder(l, high, steadyFor); err != nil {
		t.Errorf("steady state: %v", err)
		// What rmqlb thought it was doing (adverts sent, its sender).
		if s, err := d.status(); err == nil {
			t.Logf("rmqlb status after the steady state broke:\n%s", s.text)
		}
	}
	in1, err := d.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	kFlaps := len(keepalivedStates(kp.Output())) - len(keepalivedStates(kLog0))
	t.Logf("%v steady: rmqlb %s transitions +%d, received +%d, dropped {%s}; keepalived transitions +%d",
		steadyFor, in1.State, in1.Counters.Transitions-in0.Counters.Transitions,
		in1.Counters.AdvertsReceived-in0.Counters.AdvertsReceived, in1.dropped(), kFlaps)
	if in1.Counters.Transitions != in0.Counters.Transitions || kFlaps != 0 {
		t.Errorf("flapping in steady state: rmqlb +%d transitions, keepalived +%d",
			in1.Counters.Transitions-in0.Counters.Transitions, kFlaps)
	}
	if n := sumDropped(in1) - sumDropped(in0); n != 0 {
		t.Errorf("rmqlb dropped %d of keepalived's adverts in steady state: {%s}", n, in1.dropped())
	}
	if !rmqlbHigh && in1.Counters.AdvertsReceived == in0.Counters.AdvertsReceived {
		t.Errorf("rmqlb backup received no adverts from keepalived")
	}
	if rmqlbHigh && in1.Counters.AdvertsSent == in0.Counters.AdvertsSent {
		t.Errorf("rmqlb master sent no adverts to keepalived")
	}

	// Failover to the lower priority daemon, then back.
	r, cut, _ := cutOver(t, l, high, low, wait, 200*time.Millisecond, 300*time.Millisecond)
	out, ok := failoverOutage(r, cut, low.Name)
	if !ok {
		t.Fatalf("client never reached %s: %s", low.Name, r)
	}
	t.Logf("probe: %s", r)
	within(t, "failover to "+low.Name+": client outage", out.Duration(), linkCutBound(c.advert, 100))
	if err := l.RestoreLink(high); err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(l, high, wait); err != nil {
		t.Fatalf("preempt back to %s: %v", high.Name, err)
	}
	if err := d.waitState(rState, wait); err != nil {
		t.Error(err)
	}
	if err := stableHolder(l, high, 3*c.advert+time.Second); err != nil {
		t.Error(err)
	}
	if rmqlbHigh {
		plannedHandoverToKeepalived(t, l, d, low, wait)
	}
}

// plannedHandoverToKeepalived releases rmqlb daemon d, MASTER, with
// keepalived on host to as the other router: release --wait returns once
// keepalived has taken the VIP over and announced it, with no failed
// client connect; ready, d takes the VIP back (preempt), where the failed
// connects are keepalived's (it removes the VIP at once) and only logged.
func plannedHandoverToKeepalived(t *testing.T, l *netlab.Lab, d *daemon, to *netlab.Host, wait time.Duration) {
	t.Helper()
	probe, err := l.Host("client").StartProbe(vipAP, netlab.ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	out, err := d.vrrpCmd("release", "vip", "--wait")
	took := time.Since(start)
	if err != nil || !strings.Contains(out, "vip: handed over to "+to.Addr.String()) {
		t.Fatalf("release --wait with keepalived on %s: %q, %v", to.Name, out, err)
	}
	if err := waitSoleHolder(l, to, wait); err != nil {
		t.Fatalf("after the handover: %v", err)
	}
	r, err := d.release()
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Handover; h == nil || !h.Planned || !h.Announced || h.Peer != to.Addr {
		t.Errorf("handover %+v, want a planned one to %s, kept until it announced the VIP", h, to.Addr)
	}
	t.Logf("release --wait returned after %v: %s", took.Round(time.Millisecond), out)
	time.Sleep(300 * time.Millisecond)
	res := probe.Stop()
	t.Logf("probe over the handover to keepalived: %s", res)
	checkNoLostConnects(t, res, "over the handover to keepalived")

	back, err := l.Host("client").StartProbe(vipAP, netlab.ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	if out := d.mustVRRP("ready", "vip", "--wait"); !strings.Contains(out, "vip: MASTER with priority") {
		t.Errorf("ready --wait said %q, want rmqlb MASTER (it preempts keepalived)", out)
	}
	if err := waitSoleHolder(l, d.host, wait); err != nil {
		t.Fatalf("ready: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	t.Logf("probe over the preemption back from keepalived, which removes the VIP at once (not asserted): %s", back.Stop())
}

// keepalivedStateRE matches keepalived's log line of a state change, for
// example "(VI_1) Entering BACKUP STATE (init)".
var keepalivedStateRE = regexp.MustCompile(`Entering (MASTER|BACKUP|FAULT) STATE`)

// keepalivedStates returns the states keepalived entered, in the order of
// its log.
func keepalivedStates(log string) []string {
	var st []string
	for _, m := range keepalivedStateRE.FindAllStringSubmatch(log, -1) {
		st = append(st, m[1])
	}
	return st
}

// sumDropped adds the drop counters except own_packet (our own adverts
// looped back, which say nothing about the peer's).
func sumDropped(in *instanceStatus) uint64 {
	var n uint64
	for k, v := range in.Counters.Dropped {
		if k != "own_packet" {
			n += v
		}
	}
	return n
}

// TestKeepalivedStates reads state changes from keepalived 2.2.7's console
// log, and none from a log without them.
func TestKeepalivedStates(t *testing.T) {
	log := `Mon Nov 30 10:50:01 2026: Starting VRRP child process, pid=12
Mon Nov 30 10:50:01 2026: (VI_1) Entering BACKUP STATE (init)
Mon Nov 30 10:50:02 2026: (VI_1) received lower priority (100) advert from 10.77.0.2 - discarding
Mon Nov 30 10:50:02 2026: (VI_1) Entering MASTER STATE
`
	if got := keepalivedStates(log); !slices.Equal(got, []string{"BACKUP", "MASTER"}) {
		t.Errorf("keepalivedStates = %v, want [BACKUP MASTER]", got)
	}
	if got := keepalivedStates("Starting VRRP child process\n"); len(got) != 0 {
		t.Errorf("keepalivedStates of a log without state lines = %v", got)
	}
}
