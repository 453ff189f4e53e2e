package vrrp

import (
	"container/heap"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// The cluster simulation: several routers of one virtual router, each a
// real Machine driven the way Instance.Run drives it, on a simulated
// link with a virtual clock. Faults and operator commands come on a
// schedule drawn from a seed; after each of them a quiet period long
// enough for the protocol to settle, at whose end the election must have
// one result. A long run:
//
//	go test ./vrrp -run TestMachineClusterSimulation -v -vsim.seeds=100000
//
// and a failing seed replayed, its faults minimized, with its trace:
//
//	go test ./vrrp -run TestMachineClusterSimulation -vsim.seed=452
var (
	simSeed  = flag.Uint64("vsim.seed", 0, "run the cluster simulation for this seed only, with its trace")
	simSeeds = flag.Int("vsim.seeds", 300, "number of seeds the cluster simulation runs")
	simFirst = flag.Uint64("vsim.first", 1, "first seed of the cluster simulation")
	simTrace = flag.Bool("vsim.trace", false, "print the trace of every seed run")
	simTail  = flag.Int("vsim.tail", 500, "lines of a failing seed's trace printed (0: all)")
)

func TestMachineClusterSimulation(t *testing.T) {
	if *simSeed != 0 {
		runSimSeed(t, *simSeed, true)
		return
	}
	n := *simSeeds
	if testing.Short() {
		n = min(n, 50)
	}
	failed := 0
	var events, checks int
	for i := range n {
		seed := *simFirst + uint64(i)
		res := simulate(seed, nil, *simTrace)
		events += res.events
		checks += res.checks
		if *simTrace {
			t.Logf("seed %d:\n%s", seed, strings.Join(res.trace, "\n"))
		}
		if res.err != "" {
			failed++
			t.Errorf("seed %d: %s (replay with -vsim.seed=%d)", seed, res.err, seed)
			if failed == 1 {
				reportSimFailure(t, seed)
			}
			if failed >= 5 {
				t.Fatalf("stopping after %d failing seeds", failed)
			}
		}
	}
	t.Logf("seeds %d..%d: %d failed, %d events, %d quiet-period checks", *simFirst, *simFirst+uint64(n)-1, failed, events, checks)
}

// runSimSeed runs one seed and logs its trace.
func runSimSeed(t *testing.T, seed uint64, trace bool) {
	t.Logf("seed %d", seed)
	res := simulate(seed, nil, trace)
	if res.err != "" {
		t.Errorf("seed %d: %s", seed, res.err)
		reportSimFailure(t, seed)
		return
	}
	if trace {
		t.Logf("trace:\n%s", strings.Join(res.trace, "\n"))
	}
}

// reportSimFailure minimizes the fault schedule of a failing seed (drops
// every fault whose removal keeps it failing) and logs the trace of what
// is left.
func reportSimFailure(t *testing.T, seed uint64) {
	t.Helper()
	w := newSimWorld(seed)
	sched := w.faults
	first := simulate(seed, sched, false)
	for i := 0; i < len(sched); {
		try := slices.Delete(slices.Clone(sched), i, i+1)
		if r := simulate(seed, try, false); r.err != "" {
			sched = try
			continue
		}
		i++
	}
	res := simulate(seed, sched, true)
	if n, tail := len(res.trace), *simTail; tail > 0 && n > tail {
		res.trace = append([]string{fmt.Sprintf("(%d lines before)", n-tail)}, res.trace[n-tail:]...)
	}
	t.Logf("seed %d: %s\nminimized from %d to %d faults: %s\ncluster: %s\ntrace:\n%s", seed, first.err,
		len(w.faults), len(sched), res.err, w.describe(), strings.Join(res.trace, "\n"))
}

// simFaultKind is a fault or operator command of the schedule.
type simFaultKind int

const (
	fLinkDown simFaultKind = iota
	fLinkUp
	fPartition
	fHeal
	fLoss
	fStop
	fStart
	fUpgrade
	fAdjust
	fStepDown
	fReady
	fOwnerFault
	fOwnerRecovered
	fReconfigure
	numFaultKinds
)

// simFault is one scheduled fault, at a time since the start.
type simFault struct {
	at     time.Duration
	kind   simFaultKind
	r      int
	delta  int           // fAdjust
	dur    time.Duration // fStepDown (0: until Ready), fLoss
	loss   float64       // fLoss: the share of packets lost
	groups []int         // fPartition: each router's side
	cfg    *Config       // fReconfigure
}

func (f simFault) String() string {
	s := fmt.Sprintf("%v r%d", [...]string{"link-down", "link-up", "partition", "heal", "loss", "stop", "start", "upgrade",
		"adjust", "release", "ready", "owner-fault", "owner-recovered", "reload"}[f.kind], f.r)
	switch f.kind {
	case fPartition:
		s = fmt.Sprintf("partition %v", f.groups)
	case fHeal:
		s = "heal"
	case fLoss:
		s = fmt.Sprintf("loss %.0f%% for %v", 100*f.loss, f.dur)
	case fAdjust:
		s += fmt.Sprintf(" by %d", f.delta)
	case fStepDown:
		s += fmt.Sprintf(" for %v", f.dur)
	case fReconfigure:
		s += fmt.Sprintf(" priority %d preempt %v preempt_delay %v", f.cfg.Priority, f.cfg.Preempt, f.cfg.PreemptDelay)
	}
	return s
}

// simWindow is a quiet period's second half: no fault, no transition,
// and the election settled at its start and at its end.
type simWindow struct{ from, to time.Duration }

// simWorld is what a seed draws: the routers' configurations, the fault
// schedule and the quiet windows.
type simWorld struct {
	seed    uint64
	cfgs    []Config
	addrs   []netip.Addr
	watch   []bool // the owner reports announcements (and is a Quieter)
	faults  []simFault
	windows []simWindow
	settle  time.Duration // the convergence bound of a quiet period
}

func (w *simWorld) describe() string {
	var b strings.Builder
	for i, c := range w.cfgs {
		fmt.Fprintf(&b, "\n  r%d %v: v%d priority %d interval %v preempt %v preempt_delay %v late_adverts %d watches %v",
			i, w.addrs[i], c.Version, c.Priority, c.AdvertInterval, c.Preempt, c.PreemptDelay, c.LateAdvertsTolerated, w.watch[i])
	}
	fmt.Fprintf(&b, "\n  settle bound %v; windows %v", w.settle, w.windows)
	return b.String()
}

// newSimWorld draws the cluster and its schedule for seed.
func newSimWorld(seed uint64) *simWorld {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	w := &simWorld{seed: seed}
	n := 2 + rng.IntN(3)
	version := 2 + rng.IntN(2)
	pass := ""
	if version == 2 && rng.IntN(2) == 0 {
		pass = "secret"
	}
	base := time.Second
	if version == 3 {
		base = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, time.Second}[rng.IntN(4)]
	}
	sameIv := rng.IntN(10) < 6
	vips := []netip.Prefix{vip}
	if rng.IntN(3) == 0 {
		vips = append(vips, netip.MustParsePrefix("10.99.0.101/24"))
	}
	owner := -1
	if rng.IntN(6) == 0 {
		owner = rng.IntN(n)
	}
	prios := []uint8{100, 100, 150, 200, 50}
	allWatch := rng.IntN(4) != 0
	for i := range n {
		c := Config{Name: "sim", Interface: "eth0", VRID: 7, Version: version, AdvertInterval: base,
			Preempt: rng.IntN(5) != 0, AuthPass: pass, VIPs: vips}
		c.Priority = prios[rng.IntN(len(prios))]
		if rng.IntN(4) == 0 {
			c.Priority = uint8(1 + rng.IntN(254))
		}
		if i == owner {
			c.Priority = 255
		}
		if version == 3 && !sameIv {
			c.AdvertInterval = base * time.Duration(1+rng.IntN(3))
		}
		switch rng.IntN(4) {
		case 0:
			c.PreemptDelay = time.Duration(1+rng.IntN(5)) * c.AdvertInterval
		case 1:
			c.PreemptDelay = time.Duration(rng.IntN(3000)) * time.Millisecond
		}
		if rng.IntN(4) == 0 {
			c.LateAdvertsTolerated = 1 + rng.IntN(2)
		}
		if err := c.Validate(); err != nil {
			panic(err)
		}
		w.cfgs = append(w.cfgs, c)
		w.watch = append(w.watch, allWatch || rng.IntN(2) == 0)
	}
	// Addresses in an order of their own, so that the tie-break is not
	// the order of the routers.
	for _, o := range rng.Perm(n) {
		w.addrs = append(w.addrs, netip.AddrFrom4([4]byte{10, 99, 0, byte(10 + o)}))
	}

	// The settle bound: a master down interval D at the longest
	// (adopted) interval, with the skew of priority 0, three times over
	// (a router starting as BACKUP takes over, is preempted, lingers), and
	// the longest preempt_delay.
	var maxIv, maxDelay time.Duration
	maxLate := 0
	for _, c := range w.cfgs {
		maxIv = max(maxIv, c.AdvertInterval)
		maxDelay = max(maxDelay, c.PreemptDelay)
		maxLate = max(maxLate, c.LateAdvertsTolerated)
	}
	skew := maxIv
	if version == 2 {
		skew = time.Second
	}
	d := time.Duration(3+maxLate)*maxIv + skew
	w.settle = 3*d + maxDelay + 10*time.Millisecond

	// The schedule: fault phases, each followed by a quiet period.
	st := &simGenState{n: n, rng: rng, running: make([]bool, n), linkUp: make([]bool, n), fault: make([]bool, n),
		released: make([]time.Duration, n), releasedOpen: make([]bool, n), cfgs: slices.Clone(w.cfgs)}
	for i := range n {
		st.running[i], st.linkUp[i] = true, true
	}
	t := time.Duration(0)
	phases := 2 + rng.IntN(7)
	for p := range phases {
		span := time.Duration(rng.Int64N(int64(d) * 3))
		k := 1 + rng.IntN(5)
		if p == 0 && rng.IntN(2) == 0 {
			k = 0 // first a quiet start
		}
		times := make([]time.Duration, k)
		for j := range times {
			times[j] = t + time.Duration(rng.Int64N(int64(span)+1))
		}
		slices.Sort(times)
		end := t + span
		for _, at := range times {
			if f, ok := st.draw(at, end); ok {
				w.faults = append(w.faults, f)
			}
		}
		if st.partitioned && rng.IntN(4) != 0 {
			w.faults = append(w.faults, simFault{at: end, kind: fHeal})
			st.partitioned = false
		}
		// What is left of the timed releases.
		rel := time.Duration(0)
		for i := range n {
			if st.released[i] > end {
				rel = max(rel, st.released[i]-end)
			}
		}
		q := 2 * (rel + w.settle)
		w.windows = append(w.windows, simWindow{from: end + rel + w.settle, to: end + q})
		t = end + q
	}
	return w
}

// simGenState follows what the schedule did so far, to draw faults that
// make sense (a link up for a link that is down).
type simGenState struct {
	n               int
	rng             *rand.Rand
	running, linkUp []bool
	fault           []bool
	released        []time.Duration // end of a timed release
	releasedOpen    []bool          // released until Ready
	partitioned     bool
	cfgs            []Config
	lossEnd         time.Duration
}

func (g *simGenState) draw(at, end time.Duration) (simFault, bool) {
	rng := g.rng
	r := rng.IntN(g.n)
	f := simFault{at: at, r: r}
	switch k := simFaultKind(rng.IntN(int(numFaultKinds))); k {
	case fLinkDown, fLinkUp:
		f.kind = fLinkDown
		if !g.linkUp[r] {
			f.kind = fLinkUp
		}
		g.linkUp[r] = !g.linkUp[r]
	case fPartition, fHeal:
		f.kind = fPartition
		if g.partitioned && rng.IntN(2) == 0 {
			f.kind = fHeal
			g.partitioned = false
			break
		}
		f.groups = make([]int, g.n)
		for i := range f.groups {
			f.groups[i] = rng.IntN(2)
		}
		g.partitioned = true
	case fLoss:
		if at < g.lossEnd {
			return f, false
		}
		f.kind = fLoss
		f.loss = []float64{0.3, 0.7, 1}[rng.IntN(3)]
		f.dur = time.Duration(rng.Int64N(int64(end-at) + 1))
		g.lossEnd = at + f.dur
	case fStop, fStart, fUpgrade:
		f.kind = fStop
		switch {
		case !g.running[r]:
			f.kind = fStart
			g.running[r] = true
			g.fault[r] = false
		case k == fUpgrade:
			f.kind = fUpgrade
		default:
			g.running[r] = false
			g.released[r], g.releasedOpen[r] = 0, false
		}
	case fAdjust:
		f.kind = fAdjust
		f.delta = []int{0, 0, -10, -50, -120, -300, 20, 60}[rng.IntN(8)]
	case fStepDown, fReady:
		if !g.running[r] {
			return f, false
		}
		f.kind = fStepDown
		if (g.releasedOpen[r] || g.released[r] > at) && rng.IntN(2) == 0 {
			f.kind = fReady
			g.released[r], g.releasedOpen[r] = 0, false
			break
		}
		if rng.IntN(3) != 0 {
			f.dur = time.Duration(1+rng.IntN(100)) * 100 * time.Millisecond
			g.released[r], g.releasedOpen[r] = at+f.dur, false
		} else {
			g.released[r], g.releasedOpen[r] = 0, true
		}
	case fOwnerFault, fOwnerRecovered:
		if !g.running[r] {
			return f, false
		}
		f.kind = fOwnerFault
		if g.fault[r] {
			f.kind = fOwnerRecovered
		}
		g.fault[r] = !g.fault[r]
	case fReconfigure:
		c := g.cfgs[r]
		if c.Priority != 255 {
			c.Priority = []uint8{100, 150, 200, 50, uint8(1 + rng.IntN(254))}[rng.IntN(5)]
		}
		c.Preempt = rng.IntN(5) != 0
		if rng.IntN(2) == 0 {
			// One of the cluster's delays, which the settle bound
			// counts.
			c.PreemptDelay = g.cfgs[rng.IntN(g.n)].PreemptDelay
		}
		g.cfgs[r] = c
		f.kind, f.cfg = fReconfigure, &c
	}
	return f, true
}

// simRouter is one router: its Machine, what its Instance would hold
// (the desired link, owner fault and adjustment) and what its VIP owner
// holds.
type simRouter struct {
	id    int
	addr  netip.Addr
	cfg   Config
	watch bool
	m     *Machine // nil while stopped
	// As Instance keeps them.
	linkUp     bool
	ownerFault bool
	adjust     int
	// The VIP owner: holds the VIPs, announces them (gen counts the
	// Acquires, so that an old burst stops), quiet after StopAnnouncing.
	holds bool
	quiet bool
	gen   int
	// reloaded is when the last reload (Reconfigure) came.
	reloaded time.Time
	// The tick of the machine's current deadline, a little late as a
	// real loop wakes.
	deadline time.Time
	tickAt   time.Time
}

// simEvKind orders the events of one instant: packets first (Run
// handles the adverts waiting before an expired timer), then faults,
// then checks.
type simEvKind int

const (
	evDeliver simEvKind = iota
	evAnnounceHeard
	evAnnounce
	evFault
	evWindowFrom
	evWindowTo
)

type simEv struct {
	at   time.Time
	kind simEvKind
	seq  int
	r    int // receiver or router
	from int
	pkt  Packet
	gen  int
	f    simFault
	w    simWindow
}

type simQueue []*simEv

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	if q[i].kind != q[j].kind {
		return q[i].kind < q[j].kind
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simEv)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// sim is one run of a world.
type sim struct {
	w       *simWorld
	rng     *rand.Rand // the network's randomness
	now     time.Time
	start   time.Time
	routers []*simRouter
	q       simQueue
	seq     int
	groups  []int
	lossP   float64
	// splitSeen is set once a partition or a loss of packets could
	// have made two masters: a conflict (ConflictHeard) may follow.
	splitSeen bool
	lossEnd   time.Time
	// lastArrival keeps each sender-receiver pair in order.
	lastArrival map[[2]int]time.Time
	// lastHeard is when each receiver last stepped its machine with an
	// advert of each sender.
	lastHeard   map[[2]int]time.Time
	watching    bool // inside a quiet window
	starting    bool // in startRouter
	transitions []string
	err         string
	trace       []string
	tracing     bool
	events      int
	checks      int
}

type simResult struct {
	err    string
	trace  []string
	events int
	checks int
}

// simulate runs seed's world with the fault schedule sched (nil: the
// world's own).
func simulate(seed uint64, sched []simFault, trace bool) simResult {
	w := newSimWorld(seed)
	if sched == nil {
		sched = w.faults
	}
	s := &sim{w: w, rng: rand.New(rand.NewPCG(seed, 0x4e7)), start: t0, now: t0, groups: make([]int, len(w.cfgs)),
		lastArrival: map[[2]int]time.Time{}, lastHeard: map[[2]int]time.Time{}, tracing: trace}
	for i, c := range w.cfgs {
		s.routers = append(s.routers, &simRouter{id: i, addr: w.addrs[i], cfg: c, watch: w.watch[i], linkUp: true})
	}
	if trace {
		s.tracef("cluster (seed %d):%s", seed, w.describe())
	}
	for _, f := range sched {
		s.push(&simEv{at: t0.Add(f.at), kind: evFault, f: f})
	}
	for _, win := range w.windows {
		s.push(&simEv{at: t0.Add(win.from), kind: evWindowFrom, w: win})
		s.push(&simEv{at: t0.Add(win.to), kind: evWindowTo, w: win})
	}
	// Start every router, a few milliseconds apart.
	for _, r := range s.routers {
		s.now = s.now.Add(time.Duration(s.rng.IntN(2000)) * time.Microsecond)
		s.startRouter(r, Adoption{}, time.Time{})
	}
	end := t0.Add(w.windows[len(w.windows)-1].to)
	for s.err == "" {
		// The next thing: an event, or a machine's tick, whichever
		// comes first (events first at the same instant).
		var tickR *simRouter
		for _, r := range s.routers {
			if r.m == nil {
				continue
			}
			dl, ok := r.m.NextDeadline()
			if !ok {
				r.deadline, r.tickAt = time.Time{}, time.Time{}
				continue
			}
			if !dl.Equal(r.deadline) {
				r.deadline = dl
				r.tickAt = dl.Add(time.Duration(s.rng.IntN(300)) * time.Microsecond)
			}
			if tickR == nil || r.tickAt.Before(tickR.tickAt) {
				tickR = r
			}
		}
		if len(s.q) == 0 && tickR == nil {
			break
		}
		if len(s.q) > 0 && (tickR == nil || !s.q[0].at.After(tickR.tickAt)) {
			e := heap.Pop(&s.q).(*simEv)
			if e.at.After(end) {
				break
			}
			s.now = e.at
			s.handle(e)
			continue
		}
		if tickR.tickAt.After(end) {
			break
		}
		s.now = tickR.tickAt
		s.step(tickR, Tick{})
	}
	return simResult{err: s.err, trace: s.trace, events: s.events, checks: s.checks}
}

func (s *sim) push(e *simEv) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
}

func (s *sim) tracef(format string, args ...any) {
	if s.tracing {
		s.trace = append(s.trace, fmt.Sprintf("%10.6f ", s.now.Sub(s.start).Seconds())+fmt.Sprintf(format, args...))
	}
}

func (s *sim) failf(format string, args ...any) {
	if s.err != "" {
		return
	}
	s.err = fmt.Sprintf("at %.6fs: ", s.now.Sub(s.start).Seconds()) + fmt.Sprintf(format, args...)
	s.tracef("FAIL: %s", s.err)
}

// connected reports whether a packet from a reaches b now.
func (s *sim) connected(a, b *simRouter) bool {
	return a.linkUp && b.linkUp && s.groups[a.id] == s.groups[b.id]
}

func (s *sim) handle(e *simEv) {
	s.events++
	switch e.kind {
	case evDeliver:
		r, from := s.routers[e.r], s.routers[e.from]
		if r.m == nil || !s.connected(from, r) {
			return
		}
		s.lastHeard[[2]int{e.from, e.r}] = s.now
		s.step(r, Advert{Src: from.addr, Packet: &e.pkt})
	case evAnnounce:
		// The VIP owner of e.r announces the VIPs (gratuitous ARP), if
		// this burst is still its own and it holds them, unquieted.
		r := s.routers[e.r]
		if e.gen != r.gen || !r.holds || r.quiet || !r.linkUp {
			return
		}
		// Its owner reports the announcement to its instance, as
		// netsetup.VIPSet does.
		if r.watch {
			for _, a := range r.cfg.vipAddrs() {
				s.step(r, OwnAnnounced{Addr: a})
			}
		}
		for _, o := range s.routers {
			if o != r && s.connected(r, o) && !s.lost() {
				s.push(&simEv{at: s.now.Add(s.delay()), kind: evAnnounceHeard, r: o.id, from: r.id})
			}
		}
	case evAnnounceHeard:
		// Only an owner that holds the VIPs hears their announcements.
		r := s.routers[e.r]
		if r.m == nil || !r.watch || !r.holds || !r.linkUp {
			return
		}
		for _, a := range r.cfg.vipAddrs() {
			s.step(r, PeerAnnounced{Addr: a})
		}
	case evFault:
		s.fault(e.f)
	case evWindowFrom:
		s.checks++
		s.watching = true
		s.transitions = nil
		s.checkSettled("at the start of the quiet window")
	case evWindowTo:
		s.watching = false
		if len(s.transitions) > 0 {
			s.failf("transitions in the second half of a quiet period: %v", s.transitions)
		}
		s.checkSettled("at the end of the quiet period")
	}
}

// delay is the time an advert or announcement takes on the link.
func (s *sim) delay() time.Duration {
	if s.rng.IntN(4) == 0 {
		return time.Duration(1000+s.rng.IntN(4000)) * time.Microsecond
	}
	return time.Duration(50+s.rng.IntN(900)) * time.Microsecond
}

// lost reports whether a loss burst takes this packet.
func (s *sim) lost() bool {
	return s.now.Before(s.lossEnd) && s.rng.Float64() < s.lossP
}

// send puts an advert of r on the wire, as Instance.send does.
func (s *sim) send(r *simRouter, prio uint8) {
	if !r.linkUp {
		s.tracef("r%d: advert %d not sent, link down", r.id, prio)
		return
	}
	authType, authData := r.cfg.auth()
	p := Packet{Version: r.cfg.Version, VRID: r.cfg.VRID, Priority: prio, AdvertInterval: r.cfg.AdvertInterval,
		AuthType: authType, AuthData: authData, Addrs: r.cfg.vipAddrs()}
	b, err := p.Marshal(r.addr, MulticastIPv4, r.cfg.Checksum)
	if err != nil {
		s.failf("r%d: marshalling its advert: %v", r.id, err)
		return
	}
	for _, o := range s.routers {
		if o == r || !s.connected(r, o) {
			continue
		}
		if s.lost() {
			s.tracef("r%d: advert %d to r%d lost in a burst", r.id, prio, o.id)
			continue
		}
		got, err := Parse(b, r.addr, MulticastIPv4)
		if err != nil {
			s.failf("r%d: parsing r%d's advert: %v", o.id, r.id, err)
			return
		}
		at := s.now.Add(s.delay())
		key := [2]int{r.id, o.id}
		if last := s.lastArrival[key]; at.Before(last) {
			at = last
		}
		s.lastArrival[key] = at
		s.push(&simEv{at: at, kind: evDeliver, r: o.id, from: r.id, pkt: *got})
	}
}

// step feeds ev to r's machine and performs its actions as Instance.step
// does, checking what must hold after every step.
func (s *sim) step(r *simRouter, ev Event) {
	if r.m == nil {
		return
	}
	s.events++
	before, prio, since := r.m.State(), r.m.EffectivePriority(), r.m.Since()
	acts := r.m.Step(s.now, ev)
	var stopped bool
	if a, ok := ev.(Advert); ok && before == StateMaster {
		s.checkMasterHeard(r, a, prio)
	}
	if s.tracing {
		dl, _ := r.m.NextDeadline()
		s.tracef("r%d %v %s -> %v: %s (next %.6f)", r.id, before, simEvString(ev), r.m.State(), simActsString(acts), dl.Sub(s.start).Seconds())
	}
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			s.send(r, a.Priority)
		case PeriodicAdvert:
			if r.m.State() != StateMaster {
				s.failf("r%d in %v sent a periodic advert", r.id, r.m.State())
			}
			s.send(r, a.Priority)
		case Acquire:
			r.holds, r.quiet = true, false
			r.gen++
			// The burst of the VIP owner's announcements, then a
			// refresh a minute later.
			for i := range 5 {
				s.push(&simEv{at: s.now.Add(time.Duration(i) * 1100 * time.Millisecond), kind: evAnnounce, r: r.id, gen: r.gen})
			}
			s.push(&simEv{at: s.now.Add(4*1100*time.Millisecond + time.Minute), kind: evAnnounce, r: r.id, gen: r.gen})
		case Release:
			r.holds, r.quiet = false, false
			r.gen++
		case StopAnnouncing:
			if r.watch {
				r.quiet = true
			}
			stopped = true
		case StateChange:
			// preempt_delay: a BACKUP preempts a lower priority no
			// sooner than that after it began to hear it, a reload
			// included: the preemption keeps its start, and the
			// delay is the one configured now.
			if d := r.cfg.PreemptDelay; a.From == StateBackup && a.To == StateMaster && d > 0 && strings.Contains(a.Reason, "preempting") &&
				(!strings.Contains(a.Reason, "after preempt_delay") || s.now.Sub(since) < d) {
				s.failf("r%d preempted after %v as BACKUP, preempt_delay %v (reloaded at %v): %v", r.id, s.now.Sub(since), d, r.reloaded.Sub(s.start), a)
			}
			s.checkTakeoverReason(r, a)
			if s.watching {
				s.transitions = append(s.transitions, fmt.Sprintf("r%d %v", r.id, a))
			}
		case Drop:
			s.failf("r%d dropped an advert: %v", r.id, a.Err)
		case IntervalClamped:
			s.failf("r%d clamped an interval: %+v", r.id, a)
		case HandoverDone:
		case LowerMaster:
			// Two masters at once: never in the second half of a
			// quiet period, where the one master's adverts keep the
			// others BACKUP.
			if s.watching {
				s.failf("r%d heard a lower-priority master in a quiet period: %+v", r.id, a)
			}
		case ConflictHeard:
			// Another router announcing the VIPs of a MASTER that
			// stays MASTER is a split brain, which only a partition or
			// lost packets make, and never in a quiet window.
			if s.watching || !s.splitSeen {
				s.failf("r%d heard a conflict without a split brain: %+v", r.id, a.Info)
			}
		default:
			s.failf("r%d: action %T not handled by the simulation", r.id, a)
		}
	}
	s.checkStep(r)
	if stopped {
		// As Instance: quiet, then whether the new master announced.
		s.step(r, AnnouncingStopped{})
	}
}

// checkTakeoverReason checks the reason of a BACKUP taking over from a
// master of lower priority against what r heard: "preempting" names a
// master whose last advert reached r within two of its intervals, and
// "master down timer expired" one that r last heard longer ago.
func (s *sim) checkTakeoverReason(r *simRouter, a StateChange) {
	if a.From != StateBackup || a.To != StateMaster {
		return
	}
	for _, o := range s.routers {
		var preempting bool
		switch {
		case strings.Contains(a.Reason, "preempting lower priority master "+o.addr.String()+" "):
			preempting = true
		case strings.Contains(a.Reason, "master down timer expired (last master "+o.addr.String()+","):
		default:
			continue
		}
		heard, ok := s.lastHeard[[2]int{o.id, r.id}]
		if recent := ok && s.now.Sub(heard) <= 2*o.cfg.AdvertInterval; recent != preempting {
			s.failf("r%d: %v, but its last advert from r%d came at %.6f", r.id, a, o.id, heard.Sub(s.start).Seconds())
		}
		return
	}
}

// checkStep checks what holds after every step of r.
func (s *sim) checkStep(r *simRouter) {
	st := r.m.State()
	switch {
	case st == StateMaster && !r.holds:
		s.failf("r%d MASTER without the VIPs", r.id)
	case st == StateInit && r.holds && s.starting:
		// An upgrade's successor before its Startup: the VIPs are on
		// the interface.
	case (st == StateFault || st == StateInit) && r.holds:
		s.failf("r%d %v holding the VIPs", r.id, st)
	case st == StateBackup && r.holds && !r.m.lingering():
		s.failf("r%d BACKUP holding the VIPs, not handing over", r.id)
	case st == StateBackup && !r.holds && r.m.lingering():
		s.failf("r%d handing over VIPs it does not hold", r.id)
	}
	if _, ok := r.m.NextDeadline(); !ok && (st == StateBackup || st == StateMaster) {
		s.failf("r%d %v with no timer", r.id, st)
	}
}

// checkMasterHeard checks what a MASTER of priority local did on
// hearing a: RFC 5798 section 6.4.3, it gives way (becomes BACKUP) to a
// higher priority, or to the same one from a higher primary address, and
// only then.
func (s *sim) checkMasterHeard(r *simRouter, a Advert, local uint8) {
	p := a.Packet.Priority
	wins := p > local || p == local && a.Src.Compare(r.addr) > 0
	switch st := r.m.State(); {
	case wins && st != StateBackup:
		s.failf("r%d MASTER at priority %d heard %v at %d and is %v, want BACKUP", r.id, local, a.Src, p, st)
	case !wins && st != StateMaster:
		s.failf("r%d MASTER at priority %d heard %v at %d and is %v, want MASTER", r.id, local, a.Src, p, st)
	}
}

// alive reports whether r takes part in the election: running, link up,
// and able to hold the VIPs.
func (r *simRouter) alive() bool { return r.m != nil && r.linkUp && !r.ownerFault }

// checkSettled checks the election at the end of a quiet period: in
// each set of routers that hear each other, exactly one MASTER, holding
// the VIPs, which no other router holds; an eligible (not released)
// MASTER when there is an eligible router; and no eligible router that
// would preempt it (preempt on, or the address owner, and a higher
// priority). With preempt on everywhere that is the router of highest
// priority (RFC 5798 6.4.2: an equal priority does not preempt, so among
// equals whoever became MASTER first).
func (s *sim) checkSettled(when string) {
	groups := map[int][]*simRouter{}
	for _, r := range s.routers {
		if r.m == nil {
			if r.holds {
				s.failf("%s: stopped r%d holds the VIPs", when, r.id)
			}
			continue
		}
		st := r.m.State()
		if !r.alive() {
			if st != StateFault {
				s.failf("%s: r%d (link up %v, owner fault %v) is %v, want FAULT", when, r.id, r.linkUp, r.ownerFault, st)
			}
			continue
		}
		if st != StateMaster && st != StateBackup {
			s.failf("%s: r%d is %v", when, r.id, st)
		}
		if r.holds != (st == StateMaster) {
			s.failf("%s: r%d is %v, holding the VIPs %v", when, r.id, st, r.holds)
		}
		groups[s.groups[r.id]] = append(groups[s.groups[r.id]], r)
	}
	for _, g := range groups {
		var masters, eligible []*simRouter
		for _, r := range g {
			if r.m.State() == StateMaster {
				masters = append(masters, r)
			}
			if released, _ := r.m.Released(); !released {
				eligible = append(eligible, r)
			}
		}
		if len(masters) != 1 {
			s.failf("%s: %d MASTERs among %s", when, len(masters), s.describeGroup(g))
			continue
		}
		m := masters[0]
		mp := m.m.EffectivePriority()
		if released, _ := m.m.Released(); released && len(eligible) > 0 {
			s.failf("%s: released r%d is MASTER, eligible among %s", when, m.id, s.describeGroup(g))
		}
		for _, b := range eligible {
			bp := b.m.EffectivePriority()
			if b != m && (b.cfg.Preempt || bp == 255) && bp > mp {
				s.failf("%s: r%d (priority %d) is MASTER, r%d (priority %d, preempt) would preempt it, among %s",
					when, m.id, mp, b.id, bp, s.describeGroup(g))
			}
		}
	}
}

func (s *sim) describeGroup(g []*simRouter) string {
	var parts []string
	for _, r := range g {
		released, _ := r.m.Released()
		parts = append(parts, fmt.Sprintf("r%d %v priority %d released %v holds %v", r.id, r.m.State(), r.m.EffectivePriority(), released, r.holds))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// startRouter starts r with a new Machine as Instance.Run does: the
// priority adjustment, the link and owner state, a release carried over,
// then Startup.
func (s *sim) startRouter(r *simRouter, adopt Adoption, releasedUntil time.Time) {
	r.m = NewMachine(r.cfg, r.addr)
	s.starting = true
	defer func() { s.starting = false }()
	r.deadline, r.tickAt = time.Time{}, time.Time{}
	if r.watch {
		r.m.WatchAnnouncements()
	}
	s.step(r, SetPriorityAdjust{Delta: r.adjust})
	if !r.linkUp {
		s.step(r, LinkDown{})
	}
	if r.ownerFault {
		s.step(r, OwnerFault{})
	}
	if !releasedUntil.IsZero() {
		until := releasedUntil
		if until.Equal(simForever) {
			until = time.Time{}
		}
		s.step(r, StepDown{Until: until})
	}
	s.step(r, Startup{Adopt: adopt})
}

// simForever marks a release until Ready carried over an upgrade.
var simForever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// fault applies a scheduled fault as the Instance would see it.
func (s *sim) fault(f simFault) {
	r := s.routers[f.r]
	s.tracef("FAULT %v", f)
	switch f.kind {
	case fLinkDown:
		r.linkUp = false
		if r.m != nil && r.m.LinkUp() {
			s.step(r, LinkDown{})
		}
	case fLinkUp:
		r.linkUp = true
		if r.m != nil && !r.m.LinkUp() {
			s.step(r, LinkUp{})
		}
	case fPartition:
		copy(s.groups, f.groups)
		s.splitSeen = true
	case fHeal:
		clear(s.groups)
	case fLoss:
		s.lossP, s.lossEnd = f.loss, s.now.Add(f.dur)
		s.splitSeen = true
	case fStop:
		s.step(r, Shutdown{})
		r.m = nil
		r.ownerFault = false
		if r.holds {
			s.failf("r%d stopped holding the VIPs", r.id)
		}
	case fStart:
		if r.m == nil {
			s.startRouter(r, Adoption{}, time.Time{})
		}
	case fUpgrade:
		// The successor process carries on (daemon's carryOn): a
		// MASTER that is not released, or a BACKUP that is not
		// handing over, stops quietly and is adopted, a release
		// carried over; anything else shuts down and starts afresh.
		if r.m == nil {
			return
		}
		st := r.m.State()
		released, until := r.m.Released()
		if st == StateMaster && !released || st == StateBackup && !r.m.lingering() {
			carried := time.Time{}
			if released {
				carried = until
				if until.IsZero() {
					carried = simForever
				}
			}
			s.tracef("r%d upgraded, carrying on %v", r.id, st)
			s.startRouter(r, Adoption{State: st, Since: r.m.Since(), Reason: r.m.Reason(), Master: r.m.Master()}, carried)
			return
		}
		s.step(r, Shutdown{})
		s.startRouter(r, Adoption{}, time.Time{})
	case fAdjust:
		r.adjust = f.delta
		if r.m != nil && r.m.PriorityAdjust() != f.delta {
			s.step(r, SetPriorityAdjust{Delta: f.delta})
		}
	case fStepDown:
		if r.m != nil {
			var until time.Time
			if f.dur > 0 {
				until = s.now.Add(f.dur)
			}
			s.step(r, StepDown{Until: until})
		}
	case fReady:
		s.step(r, Ready{})
	case fOwnerFault:
		if r.m != nil && !r.ownerFault {
			r.ownerFault = true
			s.step(r, OwnerFault{})
		}
	case fOwnerRecovered:
		if r.ownerFault {
			r.ownerFault = false
			s.step(r, OwnerRecovered{})
		}
	case fReconfigure:
		r.cfg = *f.cfg
		r.reloaded = s.now
		s.step(r, Reconfigure{Config: r.cfg})
	}
}

func simEvString(ev Event) string {
	switch ev := ev.(type) {
	case Advert:
		return fmt.Sprintf("Advert{%v priority %d interval %v}", ev.Src, ev.Packet.Priority, ev.Packet.AdvertInterval)
	case Reconfigure:
		return fmt.Sprintf("Reconfigure{priority %d preempt %v preempt_delay %v}", ev.Config.Priority, ev.Config.Preempt, ev.Config.PreemptDelay)
	default:
		return fmt.Sprintf("%T%+v", ev, ev)
	}
}

func simActsString(acts []Action) string {
	var parts []string
	for _, a := range acts {
		switch a := a.(type) {
		case StateChange:
			parts = append(parts, fmt.Sprintf("StateChange{%v}", a))
		case HandoverDone:
			parts = append(parts, fmt.Sprintf("HandoverDone{%s}", a.Info.Outcome))
		default:
			parts = append(parts, fmt.Sprintf("%T%+v", a, a))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}
