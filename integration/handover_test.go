package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
	"github.com/rmqlb/rmqlb/vrrp"
)

// vrrpCmd runs `rmqlb vrrp ARGS... --socket S` against the daemon and
// returns its output.
func (d *daemon) vrrpCmd(args ...string) (string, error) {
	cmd := exec.Command(d.bin, append(append([]string{"vrrp"}, args...), "--socket", d.sock)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("rmqlb vrrp %s on %s: %v: %s", strings.Join(args, " "), d.host.Name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out)), nil
}

// mustVRRP is vrrpCmd that fails the test on error.
func (d *daemon) mustVRRP(args ...string) string {
	d.t.Helper()
	out, err := d.vrrpCmd(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// releaseStatus is the release part of instance "vip"'s status.
type releaseStatus struct {
	Released bool           `json:"released"`
	Reason   string         `json:"reason"`
	Handover *vrrp.Handover `json:"handover"`
	Counters struct {
		Transitions uint64 `json:"transitions"`
		Handovers   uint64 `json:"handovers"`
	} `json:"counters"`
}

func (d *daemon) release() (*releaseStatus, error) {
	in, err := d.instance("vip")
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(in.raw)
	var r releaseStatus
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decoding the release status of %s: %w", d.host.Name, err)
	}
	return &r, nil
}

// startPair makes the standard lab with banner servers and starts rmqlb
// on h1 (priority 150) and h2 (100), and waits until h1 alone holds the
// VIP and h2 is BACKUP.
func startPair(t *testing.T) (*netlab.Lab, *daemon, *daemon) {
	t.Helper()
	l := newLab(t)
	serveBanners(t, l)
	h1, h2 := l.Host("h1"), l.Host("h2")
	d1 := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{{Priority: hostPrios["h1"]}}, LogLevel: "info"})
	d2 := startDaemon(t, l, h2, daemonConf{VRRP: []vrrpConf{{Priority: hostPrios["h2"]}}, LogLevel: "info"})
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("after start: %v", err)
	}
	if err := d2.waitState("BACKUP", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	return l, d1, d2
}

// handoverRound is one measured handover.
type handoverRound struct {
	from, to string
	// took: from the release command to the new master being the sole
	// holder, on the test's clock (polled every 20 ms).
	took time.Duration
	// kept: how long the old master kept the VIP after the new master's
	// advert, by its own clock (Handover.Done - Handover.PeerHeard);
	// heard: from the release to that advert (Handover.PeerHeard -
	// Handover.Requested).
	kept, heard time.Duration
}

// TestVRRPPlannedHandover: two rmqlb hosts hand the VIP back and forth 20
// times with `rmqlb vrrp release` on the master (and `rmqlb vrrp ready
// --wait` on the other, released the round before, which returns once it
// holds the VIP), while the client connects to
// the VIP every 10 ms: not one connect fails. Each time the old master
// becomes BACKUP on the new master's advert, removes the VIP only after
// the new master announced it (gratuitous ARP), stays BACKUP (released),
// and the two hosts make two transitions, no more; so many within minutes
// make each host's status say that the instance flaps.
func TestVRRPPlannedHandover(t *testing.T) {
	const rounds = 20
	l, d1, d2 := startPair(t)
	h1, h2 := d1.host, d2.host
	ds := map[*netlab.Host]*daemon{h1: d1, h2: d2}
	transitions := func() uint64 {
		var n uint64
		for _, d := range ds {
			r, err := d.release()
			if err != nil {
				t.Fatal(err)
			}
			n += r.Counters.Transitions
		}
		return n
	}
	before := transitions()
	probe, err := l.Host("client").StartProbe(vipAP, netlab.ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)

	var done []handoverRound
	from, to := h1, h2
	for i := range rounds {
		start := time.Now()
		if out := ds[from].mustVRRP("release", "vip"); !strings.Contains(out, "released") {
			t.Fatalf("round %d: release on %s said %q", i, from.Name, out)
		}
		if i > 0 {
			// The other host was released the round before: it takes
			// over (after Skew_Time) once ready, and ready --wait
			// returns once it holds the VIP.
			if out := ds[to].mustVRRP("ready", "vip", "--wait"); !strings.Contains(out, "vip: MASTER with priority") {
				t.Fatalf("round %d: ready --wait on %s said %q, want it MASTER", i, to.Name, out)
			}
		}
		if err := waitSoleHolder(l, to, 5*time.Second); err != nil {
			t.Fatalf("round %d, %s -> %s: %v (probe so far: %s)", i, from.Name, to.Name, err, probe.Snapshot())
		}
		round := handoverRound{from: from.Name, to: to.Name, took: time.Since(start)}
		if err := ds[to].waitState("MASTER", 2*time.Second); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		r, err := ds[from].release()
		if err != nil {
			t.Fatal(err)
		}
		h := r.Handover
		if !r.Released || h == nil || !h.Planned || h.Done.IsZero() || !h.Announced || h.Peer != to.Addr {
			t.Fatalf("round %d: %s's release status %+v, handover %+v; want released, handed over to %s after its announcement", i, from.Name, r, h, to.Addr)
		}
		if st := ds[from].state(); st != "BACKUP" {
			t.Fatalf("round %d: %s is %s, want BACKUP", i, from.Name, st)
		}
		round.kept, round.heard = h.Done.Sub(h.PeerHeard), h.PeerHeard.Sub(h.Requested)
		done = append(done, round)
		time.Sleep(200 * time.Millisecond)
		from, to = to, from
	}
	time.Sleep(200 * time.Millisecond)
	res := probe.Stop()
	t.Logf("probe over %d handovers: %s", rounds, res)
	for i, r := range done {
		t.Logf("handover %2d %s -> %s: sole holder after %v; new master heard %v after the release; VIP kept %v after its advert",
			i, r.from, r.to, r.took.Round(time.Millisecond), r.heard.Round(time.Millisecond), r.kept.Round(100*time.Microsecond))
	}
	took := make([]time.Duration, len(done))
	kept := make([]time.Duration, len(done))
	for i, r := range done {
		took[i], kept[i] = r.took, r.kept
	}
	slices.Sort(took)
	slices.Sort(kept)
	t.Logf("handover time (release command to sole holder): min %v, median %v, max %v; VIP kept after the new master's advert: min %v, median %v, max %v",
		took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond),
		kept[0].Round(100*time.Microsecond), kept[len(kept)/2].Round(100*time.Microsecond), kept[len(kept)-1].Round(100*time.Microsecond))
	checkNoLostConnects(t, res, fmt.Sprintf("over %d planned handovers", rounds))
	if len(res.Owners) != rounds+1 {
		t.Errorf("the client saw %d owners in turn, want %d (start + one per handover)", len(res.Owners), rounds+1)
	}
	if n := transitions() - before; n != 2*rounds {
		t.Errorf("%d state changes over %d handovers, want %d", n, rounds, 2*rounds)
	}
	// Twenty changes within a minute on each host: both say the instance
	// flaps, and that there were more than the eight they keep.
	for _, d := range ds {
		if _, err := waitReasons(d, 5*time.Second, "VRRP vip flaps: it changed state 8 or more times in the last 10m0s"); err != nil {
			t.Errorf("%s after %d handovers: %v", d.host.Name, rounds, err)
		}
	}
}

// TestVRRPReleaseForAndLastResort: `release --for` hands the VIP over
// (`--wait` returns once it has, naming the new master) and the
// higher-priority host takes it back by preemption when the period ends,
// without a failed connect (the preempted master, too, keeps the VIP until
// the new master announced it); a released host takes the VIP as the last
// resort when no other router is left, and then its status is degraded
// and `release --wait` fails: no other router takes the VIP over.
func TestVRRPReleaseForAndLastResort(t *testing.T) {
	const period = 2 * time.Second
	l, d1, d2 := startPair(t)
	h1, h2 := d1.host, d2.host
	probe, err := l.Host("client").StartProbe(vipAP, netlab.ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if out := d1.mustVRRP("release", "vip", "--for", period.String(), "--wait"); !strings.Contains(out, "released until") ||
		!strings.Contains(out, "vip: handed over to "+h2.Addr.String()) {
		t.Fatalf("release --for --wait said %q", out)
	}
	if err := waitSoleHolder(l, h2, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	moved := time.Since(start)
	if err := waitSoleHolder(l, h1, period+3*time.Second); err != nil {
		t.Fatalf("after the release period: %v", err)
	}
	back := time.Since(start)
	time.Sleep(300 * time.Millisecond)
	res := probe.Stop()
	t.Logf("probe: %s", res)
	t.Logf("release --for %v: VIP on h2 alone after %v, back on h1 alone after %v", period, moved.Round(time.Millisecond), back.Round(time.Millisecond))
	if back < period {
		t.Errorf("h1 took the VIP back after %v, before its release period of %v ended", back, period)
	}
	r1, err := d1.release()
	if err != nil {
		t.Fatal(err)
	}
	r2, err := d2.release()
	if err != nil {
		t.Fatal(err)
	}
	if r1.Released || r2.Handover == nil || r2.Handover.Planned || !r2.Handover.Announced || r2.Handover.Peer != h1.Addr {
		t.Errorf("after the period: h1 released %v; h2's handover %+v, want a preemption by %s after its announcement", r1.Released, r2.Handover, h1.Addr)
	}
	checkNoLostConnects(t, res, "over the period and the preemption")

	// Released h1, h2 killed: h1 takes the VIP as the last resort, after
	// its released Master_Down_Interval (4 intervals), still released.
	d1.mustVRRP("release", "vip")
	if err := waitSoleHolder(l, h2, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d2.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d2.proc.Wait(5 * time.Second)
	if err := waitFor(3*time.Second, func() (bool, error) { return h1.HasAddr(vip) }); err != nil {
		t.Fatalf("released h1 did not take the VIP as the last resort: %v", err)
	}
	in, err := d1.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	r1, err = d1.release()
	if err != nil {
		t.Fatal(err)
	}
	if in.State != "MASTER" || !strings.Contains(in.Reason, "last resort") || !r1.Released || in.EffectivePriority != 0 {
		t.Errorf("h1: %s (%q), released %v, effective priority %d; want MASTER as the last resort, still released, priority 0",
			in.State, in.Reason, r1.Released, in.EffectivePriority)
	}
	if out, err := d1.vrrpCmd("release", "vip", "--wait", "--timeout", "1s"); err == nil || !strings.Contains(err.Error(), "no other router has taken over") {
		t.Errorf("release --wait with no other router: %q, %v; want exit 1, no other router has taken over", out, err)
	}
	if _, err := waitReasons(d1, 10*time.Second, "VRRP vip released"); err != nil {
		t.Errorf("h1 MASTER as the last resort, released: %v", err)
	}
}

// TestVRRPReleaseAcrossRestart: a host released for maintenance (every
// instance: release --all) whose rmqlb restarts (a reboot in the middle of
// the maintenance) stays released with a state file: the other host keeps
// the VIP, where the restarted one, of higher priority, would preempt it;
// a client connecting all along finds the VIP answered; ready hands it
// back.
func TestVRRPReleaseAcrossRestart(t *testing.T) {
	l := newLab(t)
	serveBanners(t, l)
	h1, h2 := l.Host("h1"), l.Host("h2")
	state := "state_file: " + filepath.Join(l.Dir, "h1-state.json")
	d1 := startDaemon(t, l, h1, daemonConf{VRRP: []vrrpConf{{Priority: hostPrios["h1"]}}, LogLevel: "info", Global: state})
	d2 := startDaemon(t, l, h2, daemonConf{VRRP: []vrrpConf{{Priority: hostPrios["h2"]}}, LogLevel: "info"})
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatalf("after start: %v", err)
	}
	if err := d2.waitState("BACKUP", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	probe, err := l.Host("client").StartProbe(vipAP, netlab.ProbeConfig{ReadBanner: true})
	if err != nil {
		t.Fatal(err)
	}
	// The whole host's maintenance: every instance (here one).
	if out := d1.mustVRRP("release", "--all"); !strings.HasPrefix(out, "vip: released until `rmqlb vrrp ready vip`") {
		t.Errorf("release --all said %q", out)
	}
	if err := waitSoleHolder(l, h2, 3*time.Second); err != nil {
		t.Fatal(err)
	}

	if err := d1.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d1.proc.Wait(10 * time.Second); err != nil {
		t.Fatalf("rmqlb on h1 after SIGTERM: %v", err)
	}
	d1.start()
	// Ten of its master down intervals: long enough to have preempted.
	time.Sleep(3500 * time.Millisecond)
	if err := waitSoleHolder(l, h2, time.Second); err != nil {
		t.Errorf("after h1's restart: %v", err)
	}
	in, err := d1.instance("vip")
	if err != nil {
		t.Fatal(err)
	}
	r1, err := d1.release()
	if err != nil {
		t.Fatal(err)
	}
	if in.State != "BACKUP" || !r1.Released || in.EffectivePriority != 0 {
		t.Errorf("h1 after its restart: %s, released %v, effective priority %d; want BACKUP, released, priority 0", in.State, r1.Released, in.EffectivePriority)
	}
	if out := d1.mustStatusText(); !strings.Contains(out, "restored from the state file at start") {
		t.Errorf("rmqlb status on h1 does not say the release was restored:\n%s", out)
	}

	if out := d1.mustVRRP("ready", "--all", "--wait"); !strings.Contains(out, "vip: MASTER with priority") {
		t.Errorf("ready --wait on h1 said %q, want it MASTER (it preempts h2)", out)
	}
	if err := waitSoleHolder(l, h1, 3*time.Second); err != nil {
		t.Fatalf("after ready: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	res := probe.Stop()
	t.Logf("probe: %s", res)
	checkNoLostConnects(t, res, "over the release, the restart and ready")
}

// lostConnects logs every failed connect of r and returns how many there
// are, except those during which the probe itself was kept off the CPU:
// a failed attempt after whose start the probe started no other attempt
// for longer than its timeout (200 ms, twenty probe intervals) timed out
// because nothing ran, not because the VIP was missing (the connect had
// its answer waiting when the probe ran again). Those are logged as
// stalls and not counted.
func lostConnects(t *testing.T, r netlab.ProbeResult) int {
	t.Helper()
	lost := 0
	for i, a := range r.Attempts {
		if a.OK {
			continue
		}
		gap := time.Duration(0)
		if i+1 < len(r.Attempts) {
			gap = r.Attempts[i+1].Start.Sub(a.Start)
		}
		if gap > netlab.DefaultProbeTimeout && strings.Contains(a.Err, "timeout") {
			t.Logf("connect at %s failed during a stall of the probe (next attempt %v later): %s; not counted",
				a.Start.Format("15:04:05.000"), gap.Round(time.Millisecond), a.Err)
			continue
		}
		lost++
		t.Logf("connect at %s failed after %v: %s", a.Start.Format("15:04:05.000"), a.Latency.Round(time.Millisecond), a.Err)
	}
	return lost
}

// splitHandshakes returns the failed connects of r that a move of the VIP
// split, and a problem for each owner change that split more than one
// (lostConnects counts them all). Such a connect failed with a reset at
// once, and the nearest answered attempts before and after it were
// answered by different hosts (the probe must read banners): its SYN
// reached the old holder, which answered, and its ACK, sent after the new
// holder's gratuitous ARP had changed the client's ARP entry, reached the
// new holder, which knows no such connection and resets it. No move of an
// address by ARP avoids that without sharing connection state between the
// hosts: it takes a handshake in flight in the round trip around the
// client's ARP change (about 0.1 ms in the lab, so about one 10 ms probe
// in a hundred moves), and at most one per move.
func splitHandshakes(r netlab.ProbeResult) (split []netlab.Attempt, problems []string) {
	// answered returns the banner and index of the nearest attempt
	// answered with a banner from i in direction step (-1 or +1).
	answered := func(i, step int) (string, int) {
		for j := i + step; j >= 0 && j < len(r.Attempts); j += step {
			if a := r.Attempts[j]; a.OK && a.Banner != "" {
				return a.Banner, j
			}
		}
		return "", -1
	}
	perChange := map[int]int{} // first attempt answered by the new holder -> splits
	for i, a := range r.Attempts {
		if a.OK || !strings.Contains(a.Err, "connection reset by peer") {
			continue
		}
		before, _ := answered(i, -1)
		after, j := answered(i, +1)
		if before == "" || after == "" || before == after {
			continue
		}
		split = append(split, a)
		perChange[j]++
		if perChange[j] == 2 {
			problems = append(problems, fmt.Sprintf("more than one connect split by the move from %q to %q before the attempt at %s",
				before, after, r.Attempts[j].Start.Format("15:04:05.000")))
		}
	}
	return split, problems
}

// checkNoLostConnects fails t on every failed connect of r (see
// lostConnects) but those a move of the VIP split (splitHandshakes), which
// it logs.
func checkNoLostConnects(t *testing.T, r netlab.ProbeResult, what string) {
	t.Helper()
	lost := lostConnects(t, r)
	split, problems := splitHandshakes(r)
	for _, a := range split {
		t.Logf("connect at %s split by the move of the VIP (reset by the new holder): %s", a.Start.Format("15:04:05.000"), a.Err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("failed connects %s: %d, of which %d split by the client's ARP change", what, lost, len(split))
	if lost != len(split) {
		t.Errorf("%d failed connects %s (%d of them split by the client's ARP change), want none but those", lost, what, len(split))
	}
}
