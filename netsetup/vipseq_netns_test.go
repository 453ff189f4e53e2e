package netsetup

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestVIPSetSequences runs one or two real VIPSets (two instances of one
// daemon, with different VIPs, on one interface) with Run in the lab's
// namespace A, and applies random sequences of operations to them:
// Acquire, Release, Update (VIPs added, removed, their prefix length
// changed; IPv4 and IPv6), and disturbances from outside through netlink:
// a VIP deleted, the interface's addresses flushed, a VIP's IP added by
// somebody else with another prefix length (and removed again), other
// addresses added and removed, the link set down and up, renamed and
// renamed back, its MAC changed, and a restart of the daemon, either
// after a SIGKILL (Run stops, nothing is released, RemoveStaleScoped
// runs, new VIPSets start) or as a takeover (new VIPSets adopt what the
// old ones held and a MASTER acquires at once).
//
// The VIPSets run on a fake clock with small Recheck and Backstop, so
// that their timers fire when the test advances the clock and not in
// real time; netlink events reach them as in production. After each step
// the test waits for them to settle (it reads the kernel's addresses,
// their snapshots, their fault reports and the gratuitous ARPs captured
// on the peer side of the veth, advancing the clock to its next timer
// until what it sees matches the reference model, or fails after a
// deadline of real time), and checks:
//
//   - held: every configured VIP is on the interface exactly once, with
//     its configured prefix length and rmqlb's label and protocol, unless
//     somebody else's address holds its IP, and then the VIPSet is faulty
//     and its fault names the VIP; no VIP of the instance's that is no
//     longer configured is left;
//   - not held: none of the instance's VIPs is on the interface but
//     somebody else's;
//   - no address somebody else added is ever removed by a VIPSet (nor by
//     RemoveStaleScoped);
//   - the fault (snapshot) and the last fault report say the same, a
//     recovery is reported once per fault and, by the watch, no sooner
//     than Recheck after the fault began, Faults and Readded count what
//     the disturbances did (within the bounds of what a race may add);
//   - each IPv4 VIP is announced (counter and frame on the wire, with the
//     interface's current MAC) on Acquire, on its re-add and on a MAC
//     change while held, the frames on the wire match the counters, and
//     nothing is announced by an instance that is not held;
//   - after a sequence, once the VIPSets stopped, no goroutine and no file
//     descriptor is left.
//
// The default is a short run; -vipseq.runs=N runs more sequences and
// -vipseq.seed=S starts from seed S (the seed of a failing sequence is
// in its message: replay it with -vipseq.seed=S -vipseq.runs=1).
var (
	vipSeqSeed  = flag.Uint64("vipseq.seed", 0, "seed of the first VIPSet sequence (0: from the time)")
	vipSeqRuns  = flag.Int("vipseq.runs", 30, "VIPSet sequences to run")
	vipSeqSteps = flag.Int("vipseq.steps", 40, "steps of each VIPSet sequence")
	vipSeqTrace = flag.Bool("vipseq.trace", false, "log every step of every VIPSet sequence")
)

// vipSeqEnv carries the flags of TestVIPSetSequences to the run of the
// test inside the lab's namespace (see setupLab).
const vipSeqEnv = "RMQLB_NETSETUP_VIPSEQ"

func TestVIPSetSequences(t *testing.T) {
	seed, runs, steps, trace := *vipSeqSeed, *vipSeqRuns, *vipSeqSteps, *vipSeqTrace
	if env := os.Getenv(vipSeqEnv); env != "" {
		if _, err := fmt.Sscanf(env, "%d %d %d %t", &seed, &runs, &steps, &trace); err != nil {
			t.Fatalf("decoding %s=%q: %v", vipSeqEnv, env, err)
		}
	} else if os.Getenv(labEnv) == "" {
		if seed == 0 {
			seed = uint64(time.Now().UnixNano())
		}
		t.Setenv(vipSeqEnv, fmt.Sprintf("%d %d %d %t", seed, runs, steps, trace))
	}
	l := setupLab(t)
	if l == nil {
		return
	}
	*vipSeqTrace = trace
	t.Logf("VIPSet sequences from seed %d (replay one with -vipseq.seed=N -vipseq.runs=1)", seed)
	st := map[string]int{}
	capture := captureARP(t, l.NSB, l.IfB)
	start := time.Now()
	for i := range runs {
		s := seed + uint64(i)
		q := newVIPSeq(t, l, s, st, capture)
		ok := q.run(steps)
		if !ok {
			t.Fatalf("seed %d failed (replay with -vipseq.seed=%d -vipseq.runs=1):\n%s", s, s, strings.Join(q.trace, "\n"))
		}
		st["sequences"]++
	}
	keys := make([]string, 0, len(st))
	for k := range st {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, st[k]))
	}
	t.Logf("%v: %s", time.Since(start).Round(time.Millisecond), strings.Join(parts, " "))
}

const (
	seqRecheck  = MinRecheck
	seqBackstop = time.Second
	seqSettle   = 5 * time.Second // real time for the VIPSets to settle
)

// seqInst is one VIPSet of a sequence and the reference model of it.
type seqInst struct {
	id   int
	pool []netip.Addr // the instance's VIP addresses; the instances' pools are disjoint
	cfg  VIPConfig

	s      *VIPSet
	stop   context.CancelFunc
	done   chan struct{}
	faults *seqFaults

	held bool
	// lost: configured VIPs whose own address is missing because
	// somebody else's holds their IP (held only).
	lost map[netip.Addr]bool
	// faultyReleased: not held, and the fault of the held period is
	// not over yet (it ends once no address of somebody else's holds a
	// VIP's IP, and the interface has its name).
	faultyReleased bool
	// Bounds of Faults and of Readded per address for this VIPSet.
	faultsLo, faultsHi uint64
	readdLo, readdHi   map[netip.Addr]uint64
	lastSent           map[netip.Prefix]uint64 // GARPSent last seen, per configured prefix
	sentBase           map[netip.Addr]uint64   // announcements of retired VIPSets and prefixes
	heldDuring         bool                    // held at some point of the current step
	wantAnnounce       map[netip.Addr]bool     // a new announcement is due this step
	sentAtStep         map[netip.Prefix]uint64 // GARPSent at the start of the step
	macAnnounce        map[netip.Addr]string   // a frame from this MAC is due this step
	readdAnnounce      bool                    // a VIP was put back this step, the link up
	// staleSocket: the link went down and up while held; the packet
	// socket fails its next send with the ENETDOWN the kernel left on it.
	staleSocket bool
	staleAtStep bool // staleSocket at the start of the step
	// direct: the test is calling Acquire or Update, which may report
	// the end of a fault at once.
	direct atomic.Bool
}

// seqFaults records what a VIPSet reports through ReportFaults.
type seqFaults struct {
	since    time.Time // of the fault (fake clock)
	last     error
	reports  int
	recovers int
	bad      string
}

// vipSeq is one sequence.
type vipSeq struct {
	t       *testing.T
	l       *lab
	seed    uint64
	r       *rand.Rand
	st      map[string]int
	clk     *clock.Fake
	ifindex int
	name    string // the interface's name now
	renamed string
	up      bool
	mac     net.HardwareAddr
	macs    map[string]bool // every MAC of the interface in this sequence
	proto   bool            // the VIPSets set the address protocol
	insts   []*seqInst
	foreign map[netip.Prefix]bool // addresses somebody else added
	// relabelled: VIPs a rename and back left with the bare interface
	// name as their label (the kernel's doing, to the first IPv4
	// address), as long as they stay.
	relabelled map[netip.Prefix]bool
	capture    *arpCapture
	frames     map[netip.Addr]uint64 // gratuitous ARPs captured per VIP
	seen       map[string]bool       // "ip mac" of the frames captured this step
	trace      []string
	failed     bool
	fdBase     int
	leakOpts   []goleak.Option
}

func newVIPSeq(t *testing.T, l *lab, seed uint64, st map[string]int, capture *arpCapture) *vipSeq {
	return &vipSeq{t: t, l: l, seed: seed, st: st, capture: capture, r: rand.New(rand.NewPCG(seed, 0x5eed))}
}

func (q *vipSeq) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	q.trace = append(q.trace, line)
	if *vipSeqTrace {
		q.t.Log(line)
	}
}

// fatal ends the sequence with a failure; run reports the trace.
func (q *vipSeq) fatal(format string, args ...any) {
	q.logf("FAIL: "+format, args...)
	q.failed = true
	panic(q)
}

// run runs the sequence and reports whether it passed.
func (q *vipSeq) run(steps int) (ok bool) {
	defer func() {
		if v := recover(); v != nil && v != any(q) {
			panic(v)
		}
		q.stopAll()
		q.restoreLink()
		ok = !q.failed
	}()
	q.setUp()
	for i := range steps {
		q.step(i)
	}
	// Time passes: the backstop, any burst and the refreshes run, and
	// nothing changes.
	q.clk.Advance(10 * time.Minute)
	q.settle("the end")
	q.stopAll()
	q.checkLeaks()
	return true
}

// setUp resets the lab's interface and starts the VIPSets.
func (q *vipSeq) setUp() {
	q.name = q.l.IfA
	q.renamed = q.l.IfA[:len(q.l.IfA)-1] + "z"
	q.clk = clock.NewFake(t0)
	q.mac = mustMAC(q.t, q.l.MACA)
	q.macs = map[string]bool{q.mac.String(): true}
	q.up = true
	q.proto = q.r.IntN(4) != 0
	link, err := netlink.LinkByName(q.name)
	if err != nil {
		q.fatal("looking up %s: %v", q.name, err)
	}
	q.ifindex = link.Attrs().Index
	q.flushAll()
	q.foreign = map[netip.Prefix]bool{}
	q.relabelled = map[netip.Prefix]bool{}
	for _, p := range []string{"10.201.0.1/24", "fd00:201::1/64"} {
		q.addForeign(netip.MustParsePrefix(p))
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+q.name+"/promote_secondaries", []byte("1"), 0o644); err != nil {
		q.fatal("setting promote_secondaries: %v", err)
	}
	q.leakOpts = []goleak.Option{goleak.IgnoreCurrent()}
	q.drainFrames()
	q.frames = map[netip.Addr]uint64{}
	q.fdBase = countFDs()
	n := 1 + q.r.IntN(2)
	q.insts = nil
	for i := range n {
		in := &seqInst{id: i, readdLo: map[netip.Addr]uint64{}, readdHi: map[netip.Addr]uint64{}, sentBase: map[netip.Addr]uint64{}, lost: map[netip.Addr]bool{}}
		base := 100 + 10*i
		for j := range 3 {
			in.pool = append(in.pool, netip.AddrFrom4([4]byte{10, 201, 0, byte(base + j)}))
		}
		in.pool = append(in.pool, netip.AddrFrom4([4]byte{10, 207, byte(i), 100}))
		for j := range 2 {
			in.pool = append(in.pool, netip.MustParseAddr(fmt.Sprintf("fd00:201::%d", base+j)))
		}
		in.cfg = VIPConfig{Interface: q.l.IfA, VIPs: q.drawVIPs(in, nil), GARP: q.drawGARP()}
		q.insts = append(q.insts, in)
		q.start(in)
	}
	q.logf("seed %d: %d instance(s), address protocol %v", q.seed, n, q.proto)
	for _, in := range q.insts {
		q.logf("  instance %d: %v", in.id, in.cfg.VIPs)
	}
}

func (q *vipSeq) drawGARP() GARPConfig {
	g := GARPConfig{Count: 1 + q.r.IntN(3), Interval: 100 * time.Millisecond, Refresh: -1}
	if q.r.IntN(2) == 0 {
		g.Refresh = 30 * time.Second
	}
	return g
}

// drawVIPs returns a new VIP list for in: old with changes, or a fresh
// one.
func (q *vipSeq) drawVIPs(in *seqInst, old []netip.Prefix) []netip.Prefix {
	for {
		var out []netip.Prefix
		if old == nil {
			for _, a := range in.pool {
				if q.r.IntN(2) == 0 {
					out = append(out, q.drawPrefix(a))
				}
			}
		} else {
			out = slices.Clone(old)
			for range 1 + q.r.IntN(2) {
				switch q.r.IntN(3) {
				case 0: // add one
					a := in.pool[q.r.IntN(len(in.pool))]
					if !slices.ContainsFunc(out, func(p netip.Prefix) bool { return p.Addr() == a }) {
						out = append(out, q.drawPrefix(a))
					}
				case 1: // remove one
					if len(out) > 0 {
						i := q.r.IntN(len(out))
						out = slices.Delete(out, i, i+1)
					}
				case 2: // another prefix length
					if len(out) > 0 {
						i := q.r.IntN(len(out))
						out[i] = q.drawPrefix(out[i].Addr())
					}
				}
			}
		}
		if len(out) > 0 && !slices.Equal(out, old) {
			return out
		}
	}
}

func (q *vipSeq) drawPrefix(a netip.Addr) netip.Prefix {
	bits := []int{32, 24, 28}
	if a.Is6() {
		bits = []int{128, 64, 120}
	}
	return netip.PrefixFrom(a, bits[q.r.IntN(len(bits))])
}

// start makes a new VIPSet for in and runs it.
func (q *vipSeq) start(in *seqInst) {
	s, err := newVIPSet(in.cfg, VIPSetOptions{Clock: q.clk, Recheck: seqRecheck, Backstop: seqBackstop}, q.proto)
	if err != nil {
		q.fatal("instance %d: NewVIPSet(%v): %v", in.id, in.cfg.VIPs, err)
	}
	f := &seqFaults{}
	s.ReportFaults(func(err error) {
		// Called under the VIPSet's lock; the test reads f after
		// settling, under the same lock (see faultsOf).
		now := q.clk.Now()
		if err != nil && f.last == nil {
			f.since = now
		}
		if err == nil {
			if f.last == nil && f.bad == "" {
				f.bad = fmt.Sprintf("recovery reported without a fault before (report %d)", f.reports+1)
			}
			// The watch reports recovery no sooner than Recheck after
			// the fault began; a successful Acquire or Update ends it at
			// once.
			if d := now.Sub(f.since); f.last != nil && d < seqRecheck && !in.direct.Load() && f.bad == "" {
				f.bad = fmt.Sprintf("recovery reported %v after the fault began, sooner than Recheck (%v)", d, seqRecheck)
			}
			f.recovers++
		}
		f.last = err
		f.reports++
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	in.s, in.stop, in.done, in.faults = s, cancel, done, f
	in.faultsLo, in.faultsHi = 0, 0
	clear(in.readdLo)
	clear(in.readdHi)
	in.lastSent = map[netip.Prefix]uint64{}
	in.sentAtStep = map[netip.Prefix]uint64{}
	in.staleSocket = false
}

// faultsOf returns a copy of what the VIPSet of in reported.
func (q *vipSeq) faultsOf(in *seqInst) seqFaults {
	in.s.opMu.Lock()
	defer in.s.opMu.Unlock()
	return *in.faults
}

// stopAll stops the Run of every VIPSet (idempotent).
func (q *vipSeq) stopAll() {
	for _, in := range q.insts {
		if in.stop != nil {
			in.stop()
			<-in.done
			in.stop = nil
		}
	}
}

// restoreLink gives the interface back its name, MAC and state, for the
// next sequence.
func (q *vipSeq) restoreLink() {
	link, err := netlink.LinkByIndex(q.ifindex)
	if err != nil {
		q.t.Errorf("looking up interface %d: %v", q.ifindex, err)
		return
	}
	if link.Attrs().Name != q.l.IfA {
		if err := netlink.LinkSetName(link, q.l.IfA); err != nil {
			q.t.Errorf("renaming back: %v", err)
		}
	}
	netlink.LinkSetHardwareAddr(link, mustMAC(q.t, q.l.MACA))
	netlink.LinkSetUp(link)
}

func (q *vipSeq) checkLeaks() {
	if err := goleak.Find(q.leakOpts...); err != nil {
		q.fatal("goroutines left after Run returned: %v", err)
	}
	// The capture socket of the peer is the test's, opened before.
	deadline := time.Now().Add(seqSettle)
	for n := countFDs(); n != q.fdBase; n = countFDs() {
		if time.Now().After(deadline) {
			q.fatal("%d file descriptors open after Run returned, %d before the sequence", n, q.fdBase)
		}
		time.Sleep(time.Millisecond) // waiting for closes under way
	}
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// step applies one random operation and settles.
func (q *vipSeq) step(i int) {
	for _, in := range q.insts {
		in.heldDuring = in.held
		in.wantAnnounce = map[netip.Addr]bool{}
		in.macAnnounce = map[netip.Addr]string{}
		in.readdAnnounce = false
		in.staleAtStep = in.staleSocket
		in.sentAtStep = cloneMap(in.lastSent)
	}
	q.seen = map[string]bool{}
	in := q.insts[q.r.IntN(len(q.insts))]
	ctx := context.Background()
	var op string
	switch w := q.r.IntN(100); {
	case w < 16:
		op = "acquire"
		q.acquire(in)
	case w < 28:
		op = "release"
		q.logf("%d: instance %d: Release", i, in.id)
		if err := in.s.Release(ctx); err != nil {
			q.fatal("Release: %v", err)
		}
		q.released(in)
	case w < 38:
		op = "update"
		q.update(in)
	case w < 46:
		op = "delete"
		q.deleteVIP(i, in)
	case w < 50:
		op = "flush"
		q.logf("%d: flush %s", i, q.name)
		q.flush()
	case w < 58:
		op = "steal"
		q.steal(i, in)
	case w < 66:
		op = "unsteal"
		q.unsteal(i)
	case w < 72:
		op = "foreign"
		q.foreignOp(i)
	case w < 77:
		op = "downup"
		q.downUp(i)
	case w < 82:
		op = "rename"
		q.rename(i)
	case w < 87:
		op = "mac"
		q.changeMAC(i)
	case w < 91:
		op = "kill"
		if !q.proto {
			op = "takeover" // nothing marks the IPv6 VIPs: only a takeover knows them
			q.takeover(i)
		} else {
			q.kill(i)
		}
	case w < 95:
		op = "takeover"
		q.takeover(i)
	default:
		op = "time"
		d := []time.Duration{seqRecheck, seqBackstop, 31 * time.Second, 11 * time.Minute}[q.r.IntN(4)]
		q.logf("%d: %v pass", i, d)
		q.clk.Advance(d)
	}
	q.st[op]++
	q.settle(op)
	if q.r.IntN(3) == 0 {
		// A backstop later nothing has changed.
		q.clk.Advance(seqBackstop)
		q.settle(op + " (a backstop later)")
	}
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// conflict returns somebody else's address holding a's IP, if any.
func (q *vipSeq) conflict(a netip.Addr) (netip.Prefix, bool) {
	for p := range q.foreign {
		if p.Addr() == a {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func (q *vipSeq) owner(a netip.Addr) *seqInst {
	for _, in := range q.insts {
		if slices.Contains(in.pool, a) {
			return in
		}
	}
	return nil
}

// acquire: every VIP whose IP somebody else's address holds is lost, and
// the VIPSet is faulty; the others are added (or kept) and announced.
func (q *vipSeq) acquire(in *seqInst) {
	q.logf("  instance %d: Acquire %v", in.id, in.cfg.VIPs)
	wasFaulty := q.faultyNow(in)
	coexist := false
	clear(in.lost)
	for _, p := range in.cfg.VIPs {
		if _, ok := q.conflict(p.Addr()); ok {
			if q.present(in, p) {
				coexist = true // order of the dump decides
			} else {
				in.lost[p.Addr()] = true
			}
		}
	}
	in.direct.Store(true)
	err := in.s.Acquire(context.Background())
	in.direct.Store(false)
	in.held, in.heldDuring, in.faultyReleased = true, true, false
	if (err != nil) != (len(in.lost) > 0) && !coexist {
		q.fatal("instance %d: Acquire = %v, lost %v", in.id, err, in.lost)
	}
	if !wasFaulty && err != nil {
		in.faultsLo++
		in.faultsHi++
	}
	q.announceAll(in)
	q.st["acquire-fault"] += b2i(err != nil)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// announceAll expects an announcement of every IPv4 VIP held now.
func (q *vipSeq) announceAll(in *seqInst) {
	if !q.up {
		return
	}
	for _, p := range in.cfg.VIPs {
		if p.Addr().Is4() && !in.lost[p.Addr()] {
			in.wantAnnounce[p.Addr()] = true
			in.macAnnounce[p.Addr()] = q.mac.String()
		}
	}
}

// faultyNow is the model's fault of in.
func (q *vipSeq) faultyNow(in *seqInst) bool {
	if in.held {
		return len(in.lost) > 0 || q.name != q.l.IfA
	}
	return in.faultyReleased
}

func (q *vipSeq) released(in *seqInst) {
	in.faultyReleased = q.faultyNow(in)
	in.held = false
	in.staleSocket = false // closed
	clear(in.lost)
	q.updateReleasedFault(in)
}

// updateReleasedFault ends the fault of a released VIPSet once nothing
// holds its VIPs' IPs and the interface has its name.
func (q *vipSeq) updateReleasedFault(in *seqInst) {
	if in.held || !in.faultyReleased || q.name != q.l.IfA {
		return
	}
	for _, p := range in.cfg.VIPs {
		if _, ok := q.conflict(p.Addr()); ok {
			return
		}
	}
	in.faultyReleased = false
}

func (q *vipSeq) update(in *seqInst) {
	cfg := in.cfg
	cfg.VIPs = q.drawVIPs(in, in.cfg.VIPs)
	if q.r.IntN(3) == 0 {
		cfg.GARP = q.drawGARP()
	}
	q.logf("  instance %d (held %v): Update %v -> %v", in.id, in.held, in.cfg.VIPs, cfg.VIPs)
	in.s.mu.Lock()
	states := slices.Clone(in.s.vips) // to count the dropped VIPs' last announcements
	in.s.mu.Unlock()
	defer func() {
		in.s.mu.Lock()
		defer in.s.mu.Unlock()
		for _, v := range states {
			if !slices.Contains(in.s.vips, v) {
				in.sentBase[v.prefix.Addr()] += v.garpSent
			}
		}
	}()
	for _, p := range in.cfg.VIPs {
		if !slices.Contains(cfg.VIPs, p) {
			delete(in.lastSent, p)
			delete(in.sentAtStep, p)
			// A VIP configured again is a new one: it counts anew.
			delete(in.readdLo, p.Addr())
			delete(in.readdHi, p.Addr())
		}
	}
	wasFaulty := q.faultyNow(in)
	coexist := false
	newLost := map[netip.Addr]bool{}
	for _, p := range cfg.VIPs {
		if _, ok := q.conflict(p.Addr()); ok {
			kept := slices.Contains(in.cfg.VIPs, p) && !in.lost[p.Addr()]
			if kept || (q.present(in, p) && slices.Contains(in.cfg.VIPs, p)) {
				coexist = true
			} else {
				newLost[p.Addr()] = true
			}
		}
	}
	added := slices.ContainsFunc(cfg.VIPs, func(p netip.Prefix) bool { return !slices.Contains(in.cfg.VIPs, p) })
	in.direct.Store(true)
	err := in.s.Update(cfg)
	in.direct.Store(false)
	in.cfg = cfg
	if !in.held {
		if err != nil {
			q.fatal("Update while released: %v", err)
		}
		q.updateReleasedFault(in)
		return
	}
	in.lost = newLost
	if (err != nil) != (len(newLost) > 0) && !coexist {
		q.fatal("instance %d: Update = %v, lost %v", in.id, err, newLost)
	}
	if !wasFaulty && err != nil {
		in.faultsLo++
		in.faultsHi++
	}
	if coexist && !wasFaulty {
		in.faultsHi++
	}
	if added {
		q.announceAll(in)
	}
}

// present reports whether the instance's own address for p is on the
// interface (the test's view).
func (q *vipSeq) present(in *seqInst, p netip.Prefix) bool {
	for _, a := range q.dump() {
		if a.prefix.Addr() == p.Addr() && !q.foreign[a.prefix] {
			return true
		}
	}
	return false
}

func (q *vipSeq) dump() []addrInfo {
	as, err := listAddrs(q.ifindex)
	if err != nil {
		q.fatal("listing addresses: %v", err)
	}
	return as
}

// readd expects in to put p back once.
func (q *vipSeq) readd(in *seqInst, a netip.Addr, lo, hi uint64) {
	in.readdLo[a] += lo
	in.readdHi[a] += hi
	// The burst starts again for every VIP held, unless another VIP
	// could not be put back (the VIPSet is faulty: its instance is to
	// resign).
	in.readdAnnounce = in.readdAnnounce || q.up
}

func (q *vipSeq) deleteVIP(i int, in *seqInst) {
	var ours []addrInfo
	for _, a := range q.dump() {
		if !q.foreign[a.prefix] && slices.Contains(in.pool, a.prefix.Addr()) {
			ours = append(ours, a)
		}
	}
	if len(ours) == 0 {
		q.logf("%d: instance %d: no VIP to delete", i, in.id)
		return
	}
	a := ours[q.r.IntN(len(ours))]
	q.logf("%d: instance %d: delete %s (label %q)", i, in.id, a.prefix, a.label)
	q.delAddr(a)
	if in.held {
		q.readd(in, a.prefix.Addr(), 1, 1)
	}
}

func (q *vipSeq) delAddr(a addrInfo) {
	if err := delAddr(q.ifindex, a.prefix, a.label); err != nil && !isErrno(err, unix.EADDRNOTAVAIL, unix.ENOENT) {
		q.fatal("deleting %s: %v", a.prefix, err)
	}
}

// flushAll deletes every address of the interface (`ip addr flush`),
// also the link-local ones, once each.
func (q *vipSeq) flushAll() []addrInfo {
	as := q.dump()
	for _, a := range as {
		q.delAddr(a)
	}
	return as
}

func (q *vipSeq) flush() {
	for _, in := range q.insts {
		if !in.held {
			continue
		}
		conflicted := false
		for _, p := range in.cfg.VIPs {
			_, c := q.conflict(p.Addr())
			conflicted = conflicted || c
			// Put back once, or twice if the VIPSet put it back before
			// the flush deleted it.
			q.readd(in, p.Addr(), 1, 2)
		}
		if conflicted && !q.faultyNow(in) {
			// Its own address may go before somebody else's.
			in.faultsHi++
		}
		clear(in.lost)
	}
	q.flushAll()
	clear(q.foreign)
	for _, in := range q.insts {
		q.updateReleasedFault(in)
	}
}

// steal: somebody else adds a VIP's IP with another prefix length; if
// the VIP is held, its own address goes, and the VIPSet is faulty.
func (q *vipSeq) steal(i int, in *seqInst) {
	a := in.pool[q.r.IntN(len(in.pool))]
	if _, ok := q.conflict(a); ok {
		q.logf("%d: %s already taken", i, a)
		return
	}
	var p netip.Prefix
	for {
		p = q.drawPrefix(a)
		if !slices.Contains(in.cfg.VIPs, p) {
			break
		}
	}
	var own *addrInfo
	for _, x := range q.dump() {
		if x.prefix.Addr() == a {
			own = &x
		}
	}
	q.logf("%d: instance %d (held %v): somebody else adds %s (own address %v)", i, in.id, in.held, p, own)
	cfgd := slices.ContainsFunc(in.cfg.VIPs, func(c netip.Prefix) bool { return c.Addr() == a })
	if own != nil && a.Is6() {
		// Linux keeps one IPv6 address of an IP per interface: delete
		// ours first; the VIPSet may put it back before.
		q.delAddr(*own)
		if err := q.addAddrErr(p); err != nil {
			q.logf("  %s: %v: the VIPSet was first", p, err)
			q.readd(in, a, 1, 1)
			q.st["steal-lost-race"]++
			return
		}
	} else {
		q.addForeign(p)
		if own != nil {
			q.delAddr(*own)
		}
	}
	q.foreign[p] = true
	if in.held && cfgd && own != nil {
		if !q.faultyNow(in) {
			in.faultsLo++
			in.faultsHi++
		}
		in.lost[a] = true
	}
}

func (q *vipSeq) unsteal(i int) {
	var cs []netip.Prefix
	for p := range q.foreign {
		if q.owner(p.Addr()) != nil {
			cs = append(cs, p)
		}
	}
	if len(cs) == 0 {
		q.logf("%d: nothing to give back", i)
		return
	}
	slices.SortFunc(cs, netip.Prefix.Compare)
	p := cs[q.r.IntN(len(cs))]
	in := q.owner(p.Addr())
	q.logf("%d: somebody else removes %s", i, p)
	q.delAddr(addrInfo{prefix: p, label: q.foreignLabel(p)})
	delete(q.foreign, p)
	if in.held && in.lost[p.Addr()] {
		delete(in.lost, p.Addr())
		q.readd(in, p.Addr(), 1, 1)
	}
	q.updateReleasedFault(in)
}

func (q *vipSeq) foreignLabel(p netip.Prefix) string {
	for _, a := range q.dump() {
		if a.prefix == p {
			return a.label
		}
	}
	return ""
}

// foreignOp adds or removes an address that is no VIP.
func (q *vipSeq) foreignOp(i int) {
	var others []netip.Prefix
	for p := range q.foreign {
		if q.owner(p.Addr()) == nil {
			others = append(others, p)
		}
	}
	slices.SortFunc(others, netip.Prefix.Compare)
	if len(others) > 0 && q.r.IntN(2) == 0 {
		p := others[q.r.IntN(len(others))]
		q.logf("%d: somebody else removes %s", i, p)
		q.delAddr(addrInfo{prefix: p, label: q.foreignLabel(p)})
		delete(q.foreign, p)
		return
	}
	cands := []string{"10.201.0.1/24", "10.201.0.200/32", "10.201.0.201/24", "10.207.0.1/24", "fd00:201::1/64", "fd00:201::200/128"}
	p := netip.MustParsePrefix(cands[q.r.IntN(len(cands))])
	for x := range q.foreign {
		if x.Addr() == p.Addr() {
			q.logf("%d: %s there already", i, p)
			return
		}
	}
	q.logf("%d: somebody else adds %s", i, p)
	q.addForeign(p)
}

func (q *vipSeq) addForeign(p netip.Prefix) {
	if err := q.addAddrErr(p); err != nil {
		q.fatal("adding %s: %v", p, err)
	}
	q.foreign[p] = true
}

// addAddrErr adds p as `ip addr add` does (no label beyond the
// interface's name, no protocol).
func (q *vipSeq) addAddrErr(p netip.Prefix) error {
	link, err := netlink.LinkByIndex(q.ifindex)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return netlink.AddrAdd(link, a)
}

// downUp sets the link down (Linux drops its IPv6 addresses: the
// VIPSets put theirs back) and up again.
func (q *vipSeq) downUp(i int) {
	link, _ := netlink.LinkByIndex(q.ifindex)
	q.logf("%d: link down", i)
	q.up = false // put back on a link that is down: announcing fails
	for _, in := range q.insts {
		in.staleSocket = in.staleSocket || in.held
		if !in.held {
			continue
		}
		for _, p := range in.cfg.VIPs {
			if !p.Addr().Is6() {
				continue
			}
			_, c := q.conflict(p.Addr())
			if !in.lost[p.Addr()] || c {
				q.readd(in, p.Addr(), 1, 1)
			}
			delete(in.lost, p.Addr())
		}
	}
	for p := range q.foreign {
		if p.Addr().Is6() {
			delete(q.foreign, p)
		}
	}
	for _, in := range q.insts {
		q.updateReleasedFault(in)
	}
	q.up = false
	if err := netlink.LinkSetDown(link); err != nil {
		q.fatal("link down: %v", err)
	}
	q.settle("link down")
	q.logf("%d: link up", i)
	q.up = true
	if err := netlink.LinkSetUp(link); err != nil {
		q.fatal("link up: %v", err)
	}
}

// rename renames the link, lets the VIPSets see it (a held one is
// faulty: its interface is gone), may release an instance under the
// new name, and renames it back.
func (q *vipSeq) rename(i int) {
	link, _ := netlink.LinkByIndex(q.ifindex)
	q.logf("%d: rename %s to %s", i, q.name, q.renamed)
	for _, in := range q.insts {
		if in.held && !q.faultyNow(in) {
			in.faultsLo++
			in.faultsHi++
		}
	}
	if err := netlink.LinkSetName(link, q.renamed); err != nil {
		q.fatal("renaming: %v", err)
	}
	q.name = q.renamed
	q.settle("rename")
	if q.r.IntN(2) == 0 {
		in := q.insts[q.r.IntN(len(q.insts))]
		q.logf("  instance %d: Release under the new name", in.id)
		if err := in.s.Release(context.Background()); err != nil {
			q.fatal("Release: %v", err)
		}
		q.released(in)
		q.settle("release under the new name")
	}
	q.logf("  rename back to %s", q.l.IfA)
	if err := netlink.LinkSetName(link, q.l.IfA); err != nil {
		q.fatal("renaming back: %v", err)
	}
	q.name = q.l.IfA
	for _, a := range q.dump() {
		if a.prefix.Addr().Is4() && !q.foreign[a.prefix] && a.label == q.l.IfA {
			q.logf("  %s relabelled %q by the kernel", a.prefix, a.label)
			q.relabelled[a.prefix] = true
			q.st["relabelled"]++
		}
	}
	for _, in := range q.insts {
		q.updateReleasedFault(in)
	}
}

func (q *vipSeq) changeMAC(i int) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, byte(q.r.IntN(256)), byte(q.r.IntN(256))}
	if q.macs[mac.String()] {
		mac = mustMAC(q.t, q.l.MACA)
	}
	q.logf("%d: MAC %s -> %s", i, q.mac, mac)
	link, _ := netlink.LinkByIndex(q.ifindex)
	if err := netlink.LinkSetHardwareAddr(link, mac); err != nil {
		q.fatal("setting MAC: %v", err)
	}
	if bytes.Equal(mac, q.mac) {
		return
	}
	q.mac = mac
	q.macs[mac.String()] = true
	for _, in := range q.insts {
		if in.held && !q.faultyNow(in) {
			// A faulty VIPSet's instance is to resign: no new burst.
			q.announceAll(in)
		}
	}
}

// retire ends in's VIPSet, keeping its announcement counts.
func (q *vipSeq) retire(in *seqInst) {
	in.stop()
	<-in.done
	in.stop = nil
	for _, v := range in.s.Snapshot().VIPs {
		in.sentBase[v.Prefix.Addr()] += v.GARPSent
	}
}

// kill: the daemon dies without releasing; the next one removes the stale
// VIPs of its configuration and starts with VIPSets that hold nothing.
func (q *vipSeq) kill(i int) {
	q.logf("%d: SIGKILL and start again", i)
	var scope []StaleScope
	for _, in := range q.insts {
		q.retire(in)
		scope = append(scope, StaleScope{Interface: q.l.IfA, VIPs: in.cfg.VIPs})
	}
	removed, err := RemoveStaleScoped(scope, "", nil)
	if err != nil {
		q.fatal("RemoveStaleScoped: %v", err)
	}
	q.logf("  removed stale %v", removed)
	for _, a := range q.dump() {
		if q.relabelled[a.prefix] {
			// Nothing marks it as rmqlb's any more: left in place, as
			// somebody else's would be.
			q.logf("  %s, relabelled, left in place", a.prefix)
			q.foreign[a.prefix] = true
			delete(q.relabelled, a.prefix)
			q.st["kill-left-relabelled"]++
		}
	}
	for _, in := range q.insts {
		in.held, in.faultyReleased = false, false
		clear(in.lost)
		q.start(in)
	}
}

// takeover: a new daemon takes the instances over as they are; a MASTER's
// VIPSet adopts what the old one held and acquires at once.
func (q *vipSeq) takeover(i int) {
	q.logf("%d: takeover", i)
	for _, in := range q.insts {
		var owned []netip.Prefix
		for _, v := range in.s.Snapshot().VIPs {
			if v.Owned {
				owned = append(owned, v.Prefix)
			}
		}
		q.retire(in)
		held := in.held
		in.held, in.faultyReleased = false, false
		clear(in.lost)
		q.start(in)
		if held {
			in.s.AdoptHeld(owned)
			q.acquire(in)
		}
	}
}

// settle advances the fake clock from timer to timer until what the test
// sees matches the model, and fails the sequence if it does not within
// seqSettle of real time.
func (q *vipSeq) settle(what string) {
	deadline := time.Now().Add(seqSettle)
	var msgs []string
	for {
		q.readFrames()
		msgs = q.violations()
		if len(msgs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			q.logf("addresses of %s:", q.name)
			for _, a := range q.dump() {
				q.logf("  %s label %q proto %d foreign %v", a.prefix, a.label, a.proto, q.foreign[a.prefix])
			}
			for _, in := range q.insts {
				q.logf("instance %d: %+v faults %+v", in.id, in.s.Snapshot(), q.faultsOf(in))
			}
			q.fatal("after %s:\n  %s", what, strings.Join(msgs, "\n  "))
		}
		if at := q.clk.Armed(); len(at) > 0 {
			q.clk.Set(at[0])
		}
		time.Sleep(500 * time.Microsecond) // the kernel and the VIPSets' goroutines work
	}
	for _, in := range q.insts {
		for _, v := range in.s.Snapshot().VIPs {
			in.lastSent[v.Prefix] = v.GARPSent
			if v.Prefix.Addr().Is4() && v.GARPSent > in.sentAtStep[v.Prefix] && q.up {
				in.staleSocket = false
			}
		}
	}
	present := map[netip.Prefix]bool{}
	for _, a := range q.dump() {
		present[a.prefix] = true
	}
	for p := range q.relabelled {
		if !present[p] {
			delete(q.relabelled, p)
		}
	}
}

// readFrames takes the gratuitous ARPs captured so far.
func (q *vipSeq) readFrames() {
	buf := make([]byte, 2048)
	for {
		q.capture.c.SetReadDeadline(time.Now().Add(200 * time.Microsecond))
		n, _, err := q.capture.c.ReadFrom(buf)
		if err != nil {
			return
		}
		f := buf[:n]
		if n < 42 || f[21] != 1 || !bytes.Equal(f[28:32], f[38:42]) || !q.macs[net.HardwareAddr(f[6:12]).String()] {
			continue
		}
		ip := netip.AddrFrom4([4]byte(f[28:32]))
		q.frames[ip]++
		if q.seen != nil {
			q.seen[ip.String()+" "+net.HardwareAddr(f[6:12]).String()] = true
		}
		if in := q.owner(ip); in == nil || !in.heldDuring {
			q.fatal("gratuitous ARP for %s from %s while its instance was not held", ip, net.HardwareAddr(f[6:12]))
		}
	}
}

func (q *vipSeq) drainFrames() {
	buf := make([]byte, 2048)
	for {
		q.capture.c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, _, err := q.capture.c.ReadFrom(buf); err != nil {
			return
		}
	}
}

// violations compares what the test sees with the model.
func (q *vipSeq) violations() []string {
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	addrs := q.dump()
	byIP := map[netip.Addr][]addrInfo{}
	for _, a := range addrs {
		byIP[a.prefix.Addr()] = append(byIP[a.prefix.Addr()], a)
	}
	for p := range q.foreign {
		if !slices.ContainsFunc(byIP[p.Addr()], func(a addrInfo) bool { return a.prefix == p }) {
			bad("somebody else's %s was removed", p)
		}
	}
	wantLabel, _ := addrLabel(q.l.IfA, DefaultLabel)
	for _, in := range q.insts {
		if in.readdAnnounce && in.held && len(in.lost) == 0 {
			q.announceAll(in)
		}
		if in.staleSocket || in.staleAtStep {
			clear(in.wantAnnounce)
			clear(in.macAnnounce)
		}
		snap := in.s.Snapshot()
		rep := q.faultsOf(in)
		if snap.Held != in.held {
			bad("instance %d: held %v, want %v", in.id, snap.Held, in.held)
		}
		for _, a := range in.pool {
			var own []addrInfo
			for _, x := range byIP[a] {
				if !q.foreign[x.prefix] {
					own = append(own, x)
				}
			}
			i := slices.IndexFunc(in.cfg.VIPs, func(p netip.Prefix) bool { return p.Addr() == a })
			switch {
			case !in.held && len(own) > 0:
				bad("instance %d not held: %s on the interface", in.id, own[0].prefix)
			case in.held && i < 0 && len(own) > 0:
				bad("instance %d: %s no longer configured but on the interface", in.id, own[0].prefix)
			case in.held && i >= 0 && in.lost[a]:
				if len(own) > 0 {
					bad("instance %d: %s back while somebody else holds its IP", in.id, own[0].prefix)
				}
				if !strings.Contains(snap.Fault, in.cfg.VIPs[i].String()) && q.name == q.l.IfA {
					bad("instance %d: fault %q does not name %s", in.id, snap.Fault, in.cfg.VIPs[i])
				}
			case in.held && i >= 0:
				p := in.cfg.VIPs[i]
				if len(own) != 1 || own[0].prefix != p {
					bad("instance %d: %s on the interface as %v", in.id, p, own)
					continue
				}
				o := own[0]
				wantProto := uint8(0)
				if q.proto {
					wantProto = AddrProto
				}
				if o.proto != wantProto {
					bad("instance %d: %s has protocol %d, want %d", in.id, p, o.proto, wantProto)
				}
				if a.Is4() && q.name == q.l.IfA && o.label != wantLabel && !(q.relabelled[p] && o.label == q.l.IfA) {
					bad("instance %d: %s has label %q, want %q", in.id, p, o.label, wantLabel)
				}
			}
		}
		faulty := q.faultyNow(in)
		if (snap.Fault != "") != faulty {
			bad("instance %d: fault %q, want faulty %v", in.id, snap.Fault, faulty)
		}
		if (rep.last != nil) != faulty {
			bad("instance %d: last fault report %v, want faulty %v", in.id, rep.last, faulty)
		}
		if rep.bad != "" {
			bad("instance %d: %s", in.id, rep.bad)
		}
		if snap.Faults < in.faultsLo || snap.Faults > in.faultsHi {
			bad("instance %d: %d faults, want %d..%d", in.id, snap.Faults, in.faultsLo, in.faultsHi)
		}
		readded := map[netip.Addr]uint64{}
		for _, v := range snap.VIPs {
			readded[v.Prefix.Addr()] += v.Readded
		}
		for _, a := range in.pool {
			if readded[a] < in.readdLo[a] || readded[a] > in.readdHi[a] {
				bad("instance %d: %s readded %d times, want %d..%d", in.id, a, readded[a], in.readdLo[a], in.readdHi[a])
			}
		}
		sent := map[netip.Addr]uint64{}
		for a, n := range in.sentBase {
			sent[a] += n
		}
		for _, v := range snap.VIPs {
			sent[v.Prefix.Addr()] += v.GARPSent
			if !in.heldDuring && v.GARPSent != in.sentAtStep[v.Prefix] {
				bad("instance %d: %s announced %d times, %d before, while not held", in.id, v.Prefix, v.GARPSent, in.sentAtStep[v.Prefix])
			}
			if in.wantAnnounce[v.Prefix.Addr()] && v.GARPSent <= in.sentAtStep[v.Prefix] && v.Prefix.Addr().Is4() {
				bad("instance %d: %s not announced (%d announcements)", in.id, v.Prefix, v.GARPSent)
			}
		}
		for a, mac := range in.macAnnounce {
			if in.held && !in.lost[a] && !q.seen[a.String()+" "+mac] {
				bad("instance %d: no gratuitous ARP for %s from %s on the wire", in.id, a, mac)
			}
		}
		for _, a := range in.pool {
			if a.Is4() && q.frames[a] != sent[a] {
				bad("instance %d: %d gratuitous ARPs for %s on the wire, %d counted", in.id, q.frames[a], a, sent[a])
			}
		}
	}
	return msgs
}
