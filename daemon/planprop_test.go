package daemon

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/vrrp"
)

// TestReloadSequences reloads random sequences of valid files, as an
// operator's configuration management does, and checks after every
// reload that the daemon runs what the last file says, whatever files
// came before:
//
//   - Diff of a file with itself (parsed once or twice) is empty.
//   - Every op of a plan names a part of the running model or of the
//     file, as its op says (an add is absent from the running model, a
//     removal present in it, an update or move in both), once.
//   - The plan's restarts are exactly the changed interfaces, VRIDs and
//     versions of running instances, and the instances that clash with
//     one so kept (same VRID on the same interface, or a VIP of both),
//     each at a key of the new file with its line.
//   - The new running model (running) is the file, except: an instance
//     awaiting a restart runs as it ran (but for its track rules naming
//     what the file removed, which it drops), one deferred by a clash
//     runs as it ran (or not at all if it is new), and a refused part runs as it
//     ran (or not at all if it is new); a change that takes a VIP that
//     another instance keeps (its change refused, or a swap) is refused
//     too (see vipRefusals). It holds no VRID on an interface twice and
//     no VIP on two instances, refusals or not, and its track rules name
//     its own checked backends and listeners (after refusals, or what a
//     refused listener would have run, which the reload reports: see
//     absentTracks).
//   - What the plan's ops do to the running parts (simulated here part by
//     part as apply does it: listeners, checks, VRRP settings, VIPs,
//     notify hooks, resolved track rules, global settings) is what the
//     new running model says runs. After a reload with refusals the
//     listeners and the VRRP instances (settings, VIPs, notify hooks)
//     run as the model says, a refused update of an instance leaving it as it ran, and
//     the retries are checked: what a refusal leaves running is taken as
//     the new state.
//   - The same file again finds the same restarts and nothing else to do
//     (a refused part is tried again); a file changed back after a
//     reload finds the model it left.
//   - After a sequence, its listeners and global settings are those of
//     the last file, as after one reload from the first file to the
//     last, and so is every instance that awaits no restart in either.
//     The instances are path-dependent on purpose: an instance removed
//     by one reload and added by a later one with a new interface runs
//     on it, while one reload from the first file to the last leaves it
//     awaiting a restart.
//
// The files are YAML read by config.Parse. Refusals (a listener that
// cannot bind, an instance that cannot start, a setting that cannot be
// applied, track rules or notify hooks that cannot be set up) are drawn at random in half of the sequences and recorded as
// apply records them (leftovers); real parts are not started.
//
// Each sequence's seed is logged; -plan.seed (or PLAN_SEED) replays one,
// -plan.runs (PLAN_RUNS) runs more (the default is quick).
var (
	planSeed = flag.Uint64("plan.seed", 0, "seed of the first reload sequence (0: from the time)")
	planRuns = flag.Int("plan.runs", 0, "reload sequences (0: 100, or PLAN_RUNS)")
)

func planSetting[T uint64 | int](flagged T, env string, def T) T {
	if flagged != 0 {
		return flagged
	}
	if v, err := strconv.ParseUint(os.Getenv(env), 10, 64); err == nil && v != 0 {
		return T(v)
	}
	return def
}

// planStats counts what the sequences exercised.
type planStats struct {
	sequences, reloads, invalid, restartsOfDaemon int
	ops                                           map[string]int
}

func TestReloadSequences(t *testing.T) {
	seed := planSetting(*planSeed, "PLAN_SEED", uint64(time.Now().UnixNano()))
	runs := planSetting(*planRuns, "PLAN_RUNS", 100)
	group := ownGroup(t)
	st := &planStats{ops: map[string]int{}}
	t.Logf("reload sequences from seed %d (replay one with -plan.seed=N -plan.runs=1)", seed)
	for i := range runs {
		s := seed + uint64(i)
		if msgs := runReloadSequence(s, group, st); len(msgs) > 0 {
			t.Fatalf("seed %d (replay with -plan.seed=%d -plan.runs=1):\n%s", s, s, strings.Join(msgs, "\n"))
		}
	}
	var keys []string
	for k := range st.ops {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ops []string
	for _, k := range keys {
		ops = append(ops, fmt.Sprintf("%s=%d", k, st.ops[k]))
	}
	t.Logf("%d sequences, %d reloads, %d daemon restarts, %d invalid draws refused by the loader (%.1f%%); %s",
		st.sequences, st.reloads, st.restartsOfDaemon, st.invalid, 100*float64(st.invalid)/float64(st.invalid+st.reloads+st.sequences), strings.Join(ops, " "))
}

// runReloadSequence runs the sequence of seed and returns what it found
// wrong, with the files that led there.
func runReloadSequence(seed uint64, group string, st *planStats) []string {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var gens []genFile
	draw := func(next func() genFile) (genFile, *config.Config, string) {
		for i := 0; ; i++ {
			if i == 100 && len(gens) > 0 {
				next = func() genFile { return gens[len(gens)-1] } // valid
			}
			g := next()
			text := g.yaml()
			c, err := config.Parse([]byte(text))
			if err == nil {
				return g, c, text
			}
			st.invalid++
		}
	}
	var log []string
	fail := func(msgs []string) []string {
		return append(slices.Clone(log), msgs...)
	}
	g0, c0, text := draw(func() genFile { return genNew(r, group) })
	st.sequences++
	log = append(log, "file 0:\n"+text)
	if msgs := checkFile(c0, text); len(msgs) > 0 {
		return fail(msgs)
	}
	s := newReloadState(c0)
	failures := r.IntN(2) == 0
	gens = append(gens, g0)
	steps := 1 + r.IntN(8)
	for k := 1; k <= steps; k++ {
		var g genFile
		var c *config.Config
		switch x := r.IntN(20); {
		case x < 2 && len(gens) > 1:
			// Back to the file before.
			g, c, text = draw(func() genFile { return gens[len(gens)-2] })
		case x < 4:
			g, c, text = draw(func() genFile { return gens[len(gens)-1] })
		case x < 6:
			g, c, text = draw(func() genFile { return genNew(r, group) })
		default:
			g, c, text = draw(func() genFile { return gens[len(gens)-1].mutate(r, group) })
		}
		gens = append(gens, g)
		log = append(log, fmt.Sprintf("file %d:\n%s", k, text))
		if msgs := checkFile(c, text); len(msgs) > 0 {
			return fail(msgs)
		}
		if r.IntN(25) == 0 {
			// The daemon restarts with this file: every restart applied.
			st.restartsOfDaemon++
			s = newReloadState(c)
			log = append(log, "(daemon restarted)")
			continue
		}
		st.reloads++
		lo := noFailures()
		if failures {
			lo = drawFailures(r, s.run, c)
		}
		vipRefusals(s.run, c, lo)
		msgs, note := s.reload(c, lo, st)
		if note != "" {
			log = append(log, note)
		}
		if len(msgs) > 0 {
			return fail(msgs)
		}
	}
	if !failures {
		if msgs := s.atOnce(); len(msgs) > 0 {
			return fail(msgs)
		}
	}
	return nil
}

// checkFile checks the properties of a file alone.
func checkFile(c *config.Config, text string) []string {
	var msgs []string
	if p := Diff(c, c); !p.Empty() {
		msgs = append(msgs, fmt.Sprintf("Diff of a file with itself: %+v", p))
	}
	again, err := config.Parse([]byte(text))
	if err != nil {
		return append(msgs, fmt.Sprintf("parsing again: %v", err))
	}
	if p := Diff(c, again); !p.Empty() {
		msgs = append(msgs, fmt.Sprintf("Diff of a file parsed twice: %+v", p))
	}
	return append(msgs, modelProblems("the file", c)...)
}

// reloadState is the daemon of a sequence: its running model, what its
// parts run, and the files it was given since it started.
type reloadState struct {
	run   *config.Config
	rt    runtimeState
	files []*config.Config
	// runs are the running models each file left, and exact tells
	// whether each was its file's, as parsed (nothing pending or
	// refused).
	runs  []*config.Config
	exact []bool
	// failed tells whether a part was refused since the daemon started.
	failed bool
}

func newReloadState(c *config.Config) *reloadState {
	return &reloadState{run: c, rt: runtimeOf(c), files: []*config.Config{c}, runs: []*config.Config{c}, exact: []bool{true}}
}

// failureDraw is what apply could not do in one reload: the leftovers it
// records, and the instances that could not be restarted in place (for a
// new vrrp_rt_priority or vrrp_sender), which leave the running model.
type failureDraw struct {
	leftovers
	forgot  map[string]bool
	restore map[string]bool // a moved listener that could not be bound back either
}

func noFailures() failureDraw {
	return failureDraw{leftovers: newLeftovers(), forgot: map[string]bool{}, restore: map[string]bool{}}
}

func (f failureDraw) any() bool {
	return len(f.listeners)+len(f.instances)+len(f.settings)+len(f.tracks)+len(f.notify)+len(f.forgot) > 0 ||
		f.controlGroup || f.controlSocket || f.rtPriority || f.sender || f.metrics
}

// vipRefusals adds to lo the VRRP changes of the reload from run to nc
// that apply refuses because a VIP they take is still another instance's
// (see vipHolders): after a change lo refuses, or in a swap.
func vipRefusals(run, nc *config.Config, lo failureDraw) {
	own := map[string]bool{}
	for n := range lo.instances {
		own[n] = true
	}
	for n := range lo.settings {
		own[n] = true
	}
	for name := range refuseTakes(run, Diff(run, nc), own) {
		if _, existed := run.VRRPInstance(name); existed {
			lo.settings[name] = true
		} else {
			lo.instances[name] = true
		}
	}
}

// drawFailures draws the refusals of the reload from run to nc: each
// change that apply can have refused is refused now and then.
func drawFailures(r *rand.Rand, run, nc *config.Config) failureDraw {
	f := noFailures()
	p := Diff(run, nc)
	no := func() bool { return r.IntN(7) == 0 }
	for _, c := range p.Listeners {
		switch {
		case c.Op == OpAdd && no():
			f.listeners[c.Name] = nil
		case c.Op == OpReplace && no():
			f.listeners[c.Name] = c.Old
			if r.IntN(3) == 0 {
				f.listeners[c.Name] = nil
				f.restore[c.Name] = true
			}
		}
	}
	for _, c := range p.VRRP {
		switch {
		case c.Op == OpAdd && no():
			f.instances[c.Name] = true
		case c.Op == OpUpdate && (c.Settings || c.VIPs) && no():
			f.settings[c.Name] = true
		}
		// New track rules or notify hooks that cannot be set up; the
		// instance keeps its old ones.
		if c.Op == OpUpdate && c.Tracks && no() {
			f.tracks[c.Name] = true
		}
		if c.Op == OpUpdate && c.Notify && no() {
			f.notify[c.Name] = true
		}
	}
	f.controlSocket = p.ControlSocket && no()
	// A moved socket is made with the new group: only a group set on the
	// socket where it is can be refused.
	f.controlGroup = p.ControlGroup && (!p.ControlSocket || f.controlSocket) && no()
	f.metrics = p.Metrics && no()
	if (p.RealTimePriority || p.Sender) && no() {
		f.rtPriority, f.sender = p.RealTimePriority, p.Sender // an instance hands its VIPs over
	} else if p.RealTimePriority || p.Sender {
		for _, in := range nc.VRRP {
			if no() {
				f.forgot[in.Name] = true
			}
		}
	}
	return f
}

// reload applies nc to s with the refusals lo and checks every property of
// the reload; note describes the refusals.
func (s *reloadState) reload(nc *config.Config, lo failureDraw, st *planStats) (msgs []string, note string) {
	old := s.run
	p := Diff(old, nc)
	countOps(st, p)
	msgs = append(msgs, planProblems(old, nc, p)...)
	want, wantRestarts := expectedRunning(old, nc, lo)
	msgs = append(msgs, restartProblems(p, wantRestarts, nc)...)

	run := running(old, nc, p, lo.leftovers)
	run = forget(run, lo.forgot)
	if lo.any() {
		note = fmt.Sprintf("(refused: listeners %v, instances %v, settings %v, tracks %v, notify %v, forgot %v, restore failed %v, control socket %v, group %v, metrics %v, rt %v, sender %v)",
			keysOf(lo.listeners), keysOf(lo.instances), keysOf(lo.settings), keysOf(lo.tracks), keysOf(lo.notify), keysOf(lo.forgot), keysOf(lo.restore),
			lo.controlSocket, lo.controlGroup, lo.metrics, lo.rtPriority, lo.sender)
		st.ops["refusals"]++
		st.ops["refused-tracks"] += len(lo.tracks)
		st.ops["refused-notify"] += len(lo.notify)
		st.ops["refused-settings"] += len(lo.settings)
		s.failed = true
	}
	if d := modelDiff(run, want); d != "" {
		msgs = append(msgs, "running model differs from what the file says runs: "+d)
	}
	// The model is a valid configuration after a reload without
	// refusals, an instance awaiting a restart included (it drops its
	// old track rules naming what the file removed). After refusals what
	// runs is what could be left running: a refused listener leaves the
	// track rules that name it without it (reported), and the
	// parts' states are only checked to be tried again. No VRID is on an
	// interface twice and no VIP on two instances, refusals or not (a
	// change that would take a VIP another instance keeps is refused too,
	// see vipRefusals).
	for _, m := range modelProblems("the running model", run) {
		switch {
		case !strings.Contains(m, " tracks "):
			msgs = append(msgs, m)
		case lo.any() && reportedAbsent(m, run, lo.leftovers):
			st.ops["reported-tracks-of-refused-listener"]++
		case slices.ContainsFunc(keysOf(lo.tracks), func(name string) bool { return strings.Contains(m, "instance "+name+" tracks") }):
			// Its new rules refused, the instance keeps its tracker,
			// whose old rules may name what the file removed.
			st.ops["refused-tracks-naming-removed"]++
		default:
			msgs = append(msgs, m)
		}
	}
	rt, rtMsgs := s.rt.apply(old, nc, p, lo)
	wantRT := runtimeOf(run)
	if !lo.any() {
		msgs = append(msgs, rtMsgs...)
		if d := runtimeDiff(rt, wantRT); d != "" {
			msgs = append(msgs, "what runs differs from the running model: "+d)
		}
	} else {
		// After refusals too, the listeners run as the running model
		// says, bound to a VIP of the daemon or not; and so do the VRRP
		// instances, their settings, VIPs and notify hooks: a refused
		// update leaves what runs as the model has it.
		ls := runtimeState{listeners: rt.listeners}
		if d := runtimeDiff(ls, runtimeState{listeners: wantRT.listeners}); d != "" {
			msgs = append(msgs, "after refusals, the listeners that run differ from the running model: "+d)
		}
		// Their resolved track rules are not compared: after a refused
		// listener, in this reload or one before, the rules naming it
		// are reported instead (absentTracks), and an instance whose
		// new rules were refused keeps its tracker, resolved against the
		// listeners as they ran (its old rules, which the model has:
		// expectedRunning), which may name what the file removed.
		is, wantIs := runtimeState{instances: cloneMap(rt.instances)}, runtimeState{instances: cloneMap(wantRT.instances)}
		for _, m := range []map[string]runtimeInstance{is.instances, wantIs.instances} {
			for name, u := range m {
				u.tracks = nil
				m[name] = u
			}
		}
		if d := runtimeDiff(is, wantIs); d != "" {
			msgs = append(msgs, "after refusals, the VRRP instances that run differ from the running model: "+d)
		}
		rt = wantRT
	}

	// The same file again: the same restarts, and the refused parts
	// tried again, nothing else.
	again := Diff(run, nc)
	if !slices.Equal(restartFields(again), restartFields(p)) && !lo.any() {
		msgs = append(msgs, fmt.Sprintf("the same file again: restarts %q, the reload before %q", restartFields(again), restartFields(p)))
	}
	if !lo.any() {
		again.Restart = nil
		if !again.Empty() {
			msgs = append(msgs, fmt.Sprintf("the same file again changes more: %s", planString(again)))
		}
	}
	// A refusal changes no other listener at the next reload (an instance
	// that cannot be added leaves its VIP's listener alone).
	for _, c := range again.Listeners {
		if _, refused := lo.listeners[c.Name]; lo.any() && !refused {
			msgs = append(msgs, fmt.Sprintf("the same file again after refusals changes listener %s (%s), which was not refused: %s", c.Name, c.Op, planString(again)))
		}
	}
	for name, keep := range lo.listeners {
		op := OpAdd
		if keep != nil {
			op = OpReplace
		}
		if !slices.ContainsFunc(again.Listeners, func(c ListenerChange) bool { return c.Name == name && c.Op == op }) {
			msgs = append(msgs, fmt.Sprintf("refused listener %s is not tried again (%s): %s", name, op, planString(again)))
		}
	}
	for name := range lo.instances {
		if !slices.ContainsFunc(again.VRRP, func(c VRRPChange) bool { return c.Name == name && c.Op == OpAdd }) {
			msgs = append(msgs, fmt.Sprintf("refused instance %s is not tried again: %s", name, planString(again)))
		}
	}
	for name := range lo.forgot {
		// Added again, or deferred again by a clash.
		if in, ok := nc.VRRPInstance(name); ok && !restartsAt(again.Restart, in.Field) &&
			!slices.ContainsFunc(again.VRRP, func(c VRRPChange) bool { return c.Name == name && c.Op == OpAdd }) {
			msgs = append(msgs, fmt.Sprintf("instance %s not restarted in place is not added again: %s", name, planString(again)))
		}
	}
	for name := range lo.settings {
		if lo.forgot[name] {
			continue // then not restarted in place: added again, above
		}
		if !slices.ContainsFunc(again.VRRP, func(c VRRPChange) bool { return c.Name == name && c.Op == OpUpdate && (c.Settings || c.VIPs) }) {
			msgs = append(msgs, fmt.Sprintf("refused settings of instance %s are not tried again: %s", name, planString(again)))
		}
	}
	for name := range lo.tracks {
		if _, runs := run.VRRPInstance(name); runs && !slices.ContainsFunc(again.VRRP, func(c VRRPChange) bool { return c.Name == name && c.Op == OpUpdate && c.Tracks }) {
			msgs = append(msgs, fmt.Sprintf("refused track rules of instance %s are not tried again: %s", name, planString(again)))
		}
	}
	for name := range lo.notify {
		if _, runs := run.VRRPInstance(name); runs && !slices.ContainsFunc(again.VRRP, func(c VRRPChange) bool { return c.Name == name && c.Op == OpUpdate && c.Notify }) {
			msgs = append(msgs, fmt.Sprintf("refused notify hooks of instance %s are not tried again: %s", name, planString(again)))
		}
	}
	for _, x := range []struct {
		failed, again bool
		what          string
	}{{lo.controlSocket, again.ControlSocket, "control_socket"}, {lo.controlGroup, again.ControlGroup, "control_group"},
		{lo.metrics, again.Metrics, "metrics_listen"}, {lo.rtPriority, again.RealTimePriority, "vrrp_rt_priority"}, {lo.sender, again.Sender, "vrrp_sender"}} {
		if x.failed && !x.again {
			msgs = append(msgs, fmt.Sprintf("refused %s is not tried again", x.what))
		}
	}

	// A file changed back to the one before finds the model the reload
	// before left, when that was its file's (nothing refused since).
	if n := len(s.files); n >= 2 && s.exact[n-2] && sameFile(s.files[n-2], nc) && !lo.any() {
		st.ops["changed-back"]++
		if d := modelDiff(run, s.runs[n-2]); d != "" {
			msgs = append(msgs, "the file changed back: "+d)
		}
	}
	s.run, s.rt = run, rt
	s.files = append(s.files, nc)
	s.runs = append(s.runs, run)
	s.exact = append(s.exact, modelDiff(run, nc) == "")
	return msgs, note
}

// atOnce compares the model after the sequence with one reload from the
// first file to the last.
func (s *reloadState) atOnce() []string {
	if s.failed || len(s.files) < 2 {
		return nil
	}
	first, last := s.files[0], s.files[len(s.files)-1]
	p := Diff(first, last)
	one := running(first, last, p, noFailures().leftovers)
	var msgs []string
	seq := *s.run
	seq.VRRP, one.VRRP = nil, nil
	if d := modelDiff(&seq, one); d != "" {
		msgs = append(msgs, "after the sequence and after one reload from the first file to the last: "+d)
	}
	pendSeq := restartInstances(Diff(s.run, last), last)
	pendOne := restartInstances(p, last)
	for _, in := range last.VRRP {
		if pendSeq[in.Name] || pendOne[in.Name] {
			continue
		}
		a, _ := s.run.VRRPInstance(in.Name)
		b, _ := running(first, last, p, noFailures().leftovers).VRRPInstance(in.Name)
		if a == nil || b == nil || !reflect.DeepEqual(*a, *b) {
			msgs = append(msgs, fmt.Sprintf("instance %s awaits no restart, but runs %+v after the sequence, %+v after one reload", in.Name, a, b))
		}
	}
	return msgs
}

// restartInstances names the instances of c that p leaves to a restart.
func restartInstances(p Plan, c *config.Config) map[string]bool {
	m := map[string]bool{}
	for _, in := range c.VRRP {
		if restartsAt(p.Restart, in.Field) {
			m[in.Name] = true
		}
	}
	return m
}

func sameFile(a, b *config.Config) bool {
	p := Diff(a, b)
	return p.Empty() && modelDiff(a, b) == ""
}

func forget(c *config.Config, names map[string]bool) *config.Config {
	if len(names) == 0 {
		return c
	}
	d := *c
	d.VRRP = slices.DeleteFunc(slices.Clone(c.VRRP), func(in config.VRRPInstance) bool { return names[in.Name] })
	return &d
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func countOps(st *planStats, p Plan) {
	for _, c := range p.Listeners {
		st.ops["listener-"+c.Op.String()]++
	}
	for _, c := range p.Checks {
		st.ops["check-"+c.Op.String()]++
	}
	for _, c := range p.VRRP {
		st.ops["vrrp-"+c.Op.String()]++
	}
	for _, r := range p.Restart {
		switch {
		case strings.Contains(r.Why, "until it restarts"):
			st.ops["restart-deferred-clash"]++
		default:
			st.ops["restart-identity"]++
		}
	}
	for _, x := range []struct {
		set  bool
		name string
	}{{p.LogLevel, "log_level"}, {p.Metrics, "metrics"}, {p.ControlGroup, "control_group"}, {p.ControlSocket, "control_socket"}, {p.RealTimePriority, "rt_priority"}, {p.Sender, "sender"}} {
		if x.set {
			st.ops[x.name]++
		}
	}
}

func planString(p Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{log %v metrics %v group %v socket %v rt %v sender %v", p.LogLevel, p.Metrics, p.ControlGroup, p.ControlSocket, p.RealTimePriority, p.Sender)
	for _, c := range p.Listeners {
		fmt.Fprintf(&b, " listener %s %s;", c.Op, c.Name)
	}
	for _, c := range p.Checks {
		fmt.Fprintf(&b, " check %s %s;", c.Op, c.Backend)
	}
	for _, c := range p.VRRP {
		fmt.Fprintf(&b, " vrrp %s %s (tracks %v notify %v settings %v vips %v keys %v);", c.Op, c.Name, c.Tracks, c.Notify, c.Settings, c.VIPs, c.Keys)
	}
	for _, r := range p.Restart {
		fmt.Fprintf(&b, " restart %s;", r)
	}
	return b.String() + "}"
}

func restartFields(p Plan) []string {
	var fs []string
	for _, r := range p.Restart {
		fs = append(fs, r.Field)
	}
	slices.Sort(fs)
	return fs
}

// planProblems checks that every op of p names a part of old or nc as its
// op says, once, and that no change is missed.
func planProblems(old, nc *config.Config, p Plan) []string {
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	seen := map[string]bool{}
	for _, c := range p.Listeners {
		if seen[c.Name] {
			bad("listener %s twice in the plan", c.Name)
		}
		seen[c.Name] = true
		ol, inOld := old.Listener(c.Name)
		nl, inNew := nc.Listener(c.Name)
		switch c.Op {
		case OpAdd:
			if inOld || !inNew || c.New != nl || c.Old != nil {
				bad("listener %s added: in the running model %v, in the file %v", c.Name, inOld, inNew)
			}
		case OpRemove:
			if !inOld || inNew || c.Old != ol || c.New != nil {
				bad("listener %s removed: in the running model %v, in the file %v", c.Name, inOld, inNew)
			}
		case OpReplace:
			if !inOld || !inNew || c.Old != ol || c.New != nl || ol.Bind == nl.Bind {
				bad("listener %s moved: in the running model %v, in the file %v", c.Name, inOld, inNew)
			}
		case OpUpdate:
			if !inOld || !inNew || c.Old != ol || c.New != nl || ol.Bind != nl.Bind {
				bad("listener %s updated: in the running model %v, in the file %v", c.Name, inOld, inNew)
			}
		default:
			bad("listener %s: op %s", c.Name, c.Op)
		}
	}
	// Whether a bind is a VIP is not the plan's: it follows the instances
	// that run once the reload's VRRP changes are applied (see
	// syncListenerVIPs, which runtimeState.apply simulates).
	var unbound config.Config
	for _, nl := range nc.Listeners {
		ol, ok := old.Listener(nl.Name)
		if !ok {
			if !seen[nl.Name] {
				bad("listener %s added by the file is not in the plan", nl.Name)
			}
			continue
		}
		// What the balancer runs: the listener and its backends without
		// their checks' settings (the checks' part) or places in the
		// file.
		if a, b := unbound.BalancerConfig(ol), unbound.BalancerConfig(&nl); !seen[nl.Name] && !reflect.DeepEqual(a, b) {
			bad("listener %s changed, not in the plan:\n  %+v\n  %+v", nl.Name, a, b)
		}
	}
	for _, ol := range old.Listeners {
		if _, ok := nc.Listener(ol.Name); !ok && !seen[ol.Name] {
			bad("listener %s removed by the file is not in the plan", ol.Name)
		}
	}

	checks := func(c *config.Config) map[backend.ID]config.Check {
		m := map[backend.ID]config.Check{}
		for _, l := range c.Listeners {
			for _, b := range l.Backends {
				if b.Check.Type != config.CheckNone {
					ck := b.Check
					ck.Field = ""
					m[b.ID] = ck
				}
			}
		}
		return m
	}
	oc, ncs := checks(old), checks(nc)
	seenB := map[backend.ID]bool{}
	for _, c := range p.Checks {
		if seenB[c.Backend] {
			bad("check of %s twice in the plan", c.Backend)
		}
		seenB[c.Backend] = true
		_, inOld := oc[c.Backend]
		_, inNew := ncs[c.Backend]
		_, exists := old.Backend(c.Backend)
		switch c.Op {
		case OpAdd:
			if inOld || !inNew || c.Serving != exists {
				bad("check of %s added: checked in the running model %v, in the file %v, serving %v", c.Backend, inOld, inNew, c.Serving)
			}
		case OpRemove:
			if !inOld || inNew {
				bad("check of %s removed: checked in the running model %v, in the file %v", c.Backend, inOld, inNew)
			}
		case OpUpdate:
			if !inOld || !inNew || reflect.DeepEqual(oc[c.Backend], ncs[c.Backend]) {
				bad("check of %s updated: checked in the running model %v, in the file %v", c.Backend, inOld, inNew)
			}
		}
		if c.Op != OpRemove {
			if nb, _ := nc.Backend(c.Backend); c.New != nb {
				bad("check of %s: New is not the file's backend", c.Backend)
			}
		}
	}
	for id, ck := range ncs {
		if o, ok := oc[id]; !seenB[id] && (!ok || !reflect.DeepEqual(o, ck)) {
			bad("check of %s changed, not in the plan: %+v -> %+v", id, o, ck)
		}
	}
	for id := range oc {
		if _, ok := ncs[id]; !ok && !seenB[id] {
			bad("check of %s removed, not in the plan", id)
		}
	}

	seenV := map[string]bool{}
	for _, c := range p.VRRP {
		if seenV[c.Name] {
			bad("vrrp instance %s twice in the plan", c.Name)
		}
		seenV[c.Name] = true
		oi, inOld := old.VRRPInstance(c.Name)
		ni, inNew := nc.VRRPInstance(c.Name)
		switch c.Op {
		case OpAdd:
			if inOld || !inNew || c.New != ni {
				bad("vrrp instance %s added: in the running model %v, in the file %v", c.Name, inOld, inNew)
			}
		case OpRemove:
			if !inOld || inNew || c.Old != oi {
				bad("vrrp instance %s removed: in the running model %v, in the file %v", c.Name, inOld, inNew)
			}
		case OpUpdate:
			if !inOld || !inNew || c.Old != oi || c.New != ni {
				bad("vrrp instance %s updated: in the running model %v, in the file %v", c.Name, inOld, inNew)
				continue
			}
			if oi.Interface != ni.Interface || oi.VRID != ni.VRID || oi.Version != ni.Version {
				bad("vrrp instance %s updated live although its identity changed", c.Name)
			}
			flags := []struct {
				got, want bool
				what      string
			}{
				{c.Tracks, !reflect.DeepEqual(oi.Track, ni.Track), "tracks"},
				{c.Notify, !reflect.DeepEqual(oi.Notify, ni.Notify), "notify"},
				{c.Settings, !reflect.DeepEqual(oi.VRRPConfig(), ni.VRRPConfig()), "settings"},
				{c.VIPs, !slices.Equal(oi.VIPs, ni.VIPs) || oi.GARP != ni.GARP, "vips"},
			}
			for _, f := range flags {
				if f.got != f.want {
					bad("vrrp instance %s: %s flag %v, want %v", c.Name, f.what, f.got, f.want)
				}
			}
			if (len(c.Keys) > 0) != (c.Settings || c.VIPs) {
				bad("vrrp instance %s: keys %v with settings %v, VIPs %v", c.Name, c.Keys, c.Settings, c.VIPs)
			}
		default:
			bad("vrrp instance %s: op %s", c.Name, c.Op)
		}
	}
	for _, oi := range old.VRRP {
		if _, ok := nc.VRRPInstance(oi.Name); !ok && !seenV[oi.Name] {
			bad("vrrp instance %s removed by the file is not in the plan", oi.Name)
		}
	}
	for _, x := range []struct {
		got, want bool
		what      string
	}{
		{p.LogLevel, old.LogLevel != nc.LogLevel, "log_level"},
		{p.Metrics, old.MetricsListen != nc.MetricsListen, "metrics_listen"},
		{p.ControlGroup, old.ControlGroup != nc.ControlGroup, "control_group"},
		{p.ControlSocket, old.ControlSocket != nc.ControlSocket, "control_socket"},
		{p.RealTimePriority, old.VRRPRealTimePriority != nc.VRRPRealTimePriority, "vrrp_rt_priority"},
		{p.Sender, old.VRRPSender != nc.VRRPSender, "vrrp_sender"},
	} {
		if x.got != x.want {
			bad("%s flag %v, want %v", x.what, x.got, x.want)
		}
	}
	return msgs
}

// expectedRunning is the running model after a reload from the running
// model old to nc with the refusals lo, from the documented rules: the
// file's, except an instance whose interface, VRID or version changed runs
// on as it ran (with the file's place), and an instance that clashes with
// one so kept (its VRID on the same interface, a VIP of both) too, or, if
// new, not at all, which may keep another; refused parts as they ran. It
// also returns the restart fields the reload must report, by instance.
func expectedRunning(old, nc *config.Config, lo failureDraw) (*config.Config, map[string][]string) {
	c := *nc
	if lo.controlSocket {
		c.ControlSocket = old.ControlSocket
	}
	if lo.controlGroup {
		c.ControlGroup = old.ControlGroup
	}
	if lo.metrics {
		c.MetricsListen = old.MetricsListen
	}
	if lo.rtPriority {
		c.VRRPRealTimePriority = old.VRRPRealTimePriority
	}
	if lo.sender {
		c.VRRPSender = old.VRRPSender
	}
	c.Listeners = nil
	for _, l := range nc.Listeners {
		if keep, refused := lo.listeners[l.Name]; refused {
			if keep != nil {
				c.Listeners = append(c.Listeners, *keep)
			}
			continue
		}
		c.Listeners = append(c.Listeners, l)
	}

	restarts := map[string][]string{}
	kept := map[string]*config.VRRPInstance{} // by name: what runs on
	absent := map[string]bool{}
	for i := range nc.VRRP {
		ni := &nc.VRRP[i]
		oi, ok := old.VRRPInstance(ni.Name)
		if !ok {
			continue
		}
		for _, k := range []struct {
			key  string
			same bool
		}{{"interface", oi.Interface == ni.Interface}, {"virtual_router_id", oi.VRID == ni.VRID}, {"version", oi.Version == ni.Version}} {
			if !k.same {
				restarts[ni.Name] = append(restarts[ni.Name], ni.Field+"."+k.key)
				kept[ni.Name] = oi
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for i := range nc.VRRP {
			ni := &nc.VRRP[i]
			if kept[ni.Name] != nil || absent[ni.Name] {
				continue
			}
			for _, k := range kept {
				vrid := k.Interface == ni.Interface && k.VRID == ni.VRID
				vip := slices.ContainsFunc(ni.VIPs, func(v netip.Prefix) bool {
					return slices.ContainsFunc(k.VIPs, func(w netip.Prefix) bool { return v.Addr() == w.Addr() })
				})
				if !vrid && !vip {
					continue
				}
				restarts[ni.Name] = append(restarts[ni.Name], ni.Field+".clash")
				if oi, ok := old.VRRPInstance(ni.Name); ok {
					kept[ni.Name] = oi
				} else {
					absent[ni.Name] = true
				}
				changed = true
				break
			}
		}
	}
	c.VRRP = nil
	for _, in := range nc.VRRP {
		switch oi := kept[in.Name]; {
		case absent[in.Name] || lo.instances[in.Name] || lo.forgot[in.Name]:
		case oi != nil:
			k := *oi
			k.Field = in.Field
			// Without the rules naming what the file removed or no
			// longer checks.
			k.Track = slices.DeleteFunc(slices.Clone(oi.Track), func(t config.Track) bool {
				if t.Listener != "" {
					l, ok := nc.Listener(t.Listener)
					return !ok || !slices.ContainsFunc(l.Backends, func(b config.Backend) bool { return b.Check.Type != config.CheckNone })
				}
				b, ok := nc.Backend(t.Backend)
				return !ok || b.Check.Type == config.CheckNone
			})
			if len(k.Track) == 0 {
				k.Track = nil
			}
			c.VRRP = append(c.VRRP, k)
		case lo.settings[in.Name]:
			o, _ := old.VRRPInstance(in.Name)
			k := *o
			k.Field, k.Track, k.Notify = in.Field, in.Track, in.Notify
			c.VRRP = append(c.VRRP, k)
		default:
			c.VRRP = append(c.VRRP, in)
		}
		// Refused track rules or notify hooks: the old ones run on.
		if o, ok := old.VRRPInstance(in.Name); ok && len(c.VRRP) > 0 && c.VRRP[len(c.VRRP)-1].Name == in.Name {
			if lo.tracks[in.Name] {
				c.VRRP[len(c.VRRP)-1].Track = o.Track
			}
			if lo.notify[in.Name] {
				c.VRRP[len(c.VRRP)-1].Notify = o.Notify
			}
		}
	}
	return &c, restarts
}

// restartProblems compares p's restarts with the expected ones (a clash
// may be reported at the VRID or at the VIPs).
func restartProblems(p Plan, want map[string][]string, nc *config.Config) []string {
	var msgs []string
	got := map[string][]string{}
	for _, r := range p.Restart {
		if r.Line <= 0 {
			msgs = append(msgs, fmt.Sprintf("restart %s without a line", r))
		}
		i := slices.IndexFunc(nc.VRRP, func(in config.VRRPInstance) bool { return strings.HasPrefix(r.Field, in.Field+".") })
		if i < 0 {
			msgs = append(msgs, fmt.Sprintf("restart %s names no instance of the file", r))
			continue
		}
		f := r.Field
		if strings.Contains(r.Why, "until it restarts") {
			f = nc.VRRP[i].Field + ".clash"
		}
		got[nc.VRRP[i].Name] = append(got[nc.VRRP[i].Name], f)
	}
	if !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
		msgs = append(msgs, fmt.Sprintf("restarts %v, want %v (%s)", got, want, planString(p)))
	}
	return msgs
}

// modelProblems checks that c could run: no VRID on an interface twice, no
// VIP twice, and track rules that name its own checked backends and
// listeners.
func modelProblems(what string, c *config.Config) []string {
	var msgs []string
	vrids := map[string]string{}
	vips := map[netip.Addr]string{}
	for _, in := range c.VRRP {
		key := fmt.Sprintf("%s/%d", in.Interface, in.VRID)
		if o, dup := vrids[key]; dup {
			msgs = append(msgs, fmt.Sprintf("%s: VRID %s of %s and %s", what, key, o, in.Name))
		}
		vrids[key] = in.Name
		for _, v := range in.VIPs {
			if o, dup := vips[v.Addr()]; dup {
				msgs = append(msgs, fmt.Sprintf("%s: VIP %s of %s and %s", what, v.Addr(), o, in.Name))
			}
			vips[v.Addr()] = in.Name
		}
		for _, t := range in.Track {
			if t.Listener != "" {
				if l, ok := c.Listener(t.Listener); !ok || len(backendIDs(l)) == 0 {
					msgs = append(msgs, fmt.Sprintf("%s: instance %s tracks listener %s, which it lacks or which has no checked backend", what, in.Name, t.Listener))
				}
				continue
			}
			if b, ok := c.Backend(t.Backend); !ok || b.Check.Type == config.CheckNone {
				msgs = append(msgs, fmt.Sprintf("%s: instance %s tracks backend %s, which it lacks or does not check", what, in.Name, t.Backend))
			}
		}
	}
	return msgs
}

// modelDiff describes how two models differ ("" when they do not).
func modelDiff(a, b *config.Config) string {
	var ds []string
	for _, x := range []struct {
		what string
		a, b any
	}{
		{"control_socket", a.ControlSocket, b.ControlSocket},
		{"control_group", a.ControlGroup, b.ControlGroup},
		{"log_level", a.LogLevel, b.LogLevel},
		{"metrics_listen", a.MetricsListen, b.MetricsListen},
		{"vrrp_rt_priority", a.VRRPRealTimePriority, b.VRRPRealTimePriority},
		{"vrrp_sender", a.VRRPSender, b.VRRPSender},
		{"inert", a.Inert, b.Inert},
		{"listeners", a.Listeners, b.Listeners},
		{"vrrp_instances", a.VRRP, b.VRRP},
	} {
		if !reflect.DeepEqual(x.a, x.b) && !bothEmpty(x.a, x.b) {
			ds = append(ds, fmt.Sprintf("%s:\n  %+v\n  %+v", x.what, x.a, x.b))
		}
	}
	return strings.Join(ds, "\n")
}

// bothEmpty reports whether a and b are slices without elements (nil or
// not).
func bothEmpty(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Slice && vb.Kind() == reflect.Slice && va.Len() == 0 && vb.Len() == 0
}

// runtimeState is what the daemon's parts run: each listener's balancer,
// each backend's check, each VRRP instance's settings, VIP set, notify
// hooks and resolved track rules, and the global settings.
type runtimeState struct {
	logLevel      zapcore.Level
	metrics       netip.AddrPort
	group, socket string
	rtPrio        int
	sender        config.VRRPSender
	listeners     map[string]balancer.Config
	checks        map[backend.ID]config.Check
	instances     map[string]runtimeInstance
}

type runtimeInstance struct {
	vrrp   vrrp.Config
	vips   netsetup.VIPConfig
	notify notify.Config
	tracks []string
}

// resolvedTracks is what an instance's tracker watches, its rules
// resolved against c as setTracks resolves them.
func resolvedTracks(in *config.VRRPInstance, c *config.Config) []string {
	var ts []string
	for _, t := range in.Track {
		if t.Listener == "" {
			ts = append(ts, fmt.Sprintf("backend %s %+d", t.Backend, t.Weight))
			continue
		}
		l, ok := c.Listener(t.Listener)
		if !ok {
			return []string{"error: no listener " + t.Listener}
		}
		ts = append(ts, fmt.Sprintf("listener %s %v %+d", t.Listener, backendIDs(l), t.Weight))
	}
	return ts
}

func runtimeInstanceOf(in *config.VRRPInstance, c *config.Config) runtimeInstance {
	return runtimeInstance{vrrp: in.VRRPConfig(), vips: in.VIPConfig(), notify: in.Notify, tracks: resolvedTracks(in, c)}
}

func checkOf(b *config.Backend) config.Check {
	ck := b.Check
	ck.Field = ""
	return ck
}

// runtimeOf is what runs when the running model is c.
func runtimeOf(c *config.Config) runtimeState {
	rt := runtimeState{
		logLevel: c.LogLevel, metrics: c.MetricsListen, group: c.ControlGroup, socket: c.ControlSocket,
		rtPrio: c.VRRPRealTimePriority, sender: c.VRRPSender,
		listeners: map[string]balancer.Config{}, checks: map[backend.ID]config.Check{}, instances: map[string]runtimeInstance{},
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		rt.listeners[l.Name] = c.BalancerConfig(l)
		for j := range l.Backends {
			if b := &l.Backends[j]; b.Check.Type != config.CheckNone {
				rt.checks[b.ID] = checkOf(b)
			}
		}
	}
	for i := range c.VRRP {
		rt.instances[c.VRRP[i].Name] = runtimeInstanceOf(&c.VRRP[i], c)
	}
	return rt
}

func (rt runtimeState) clone() runtimeState {
	n := rt
	n.listeners = cloneMap(rt.listeners)
	n.checks = cloneMap(rt.checks)
	n.instances = cloneMap(rt.instances)
	return n
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	n := make(map[K]V, len(m))
	for k, v := range m {
		n[k] = v
	}
	return n
}

// apply does to the running parts what Daemon.apply does with plan p from
// old to nc, with the refusals lo, part by part and in its order; it
// returns what then runs, and what apply would have reported as an error
// of its own (a check removed that does not run, added twice).
func (rt runtimeState) apply(old, nc *config.Config, p Plan, lo failureDraw) (runtimeState, []string) {
	n := rt.clone()
	var msgs []string
	next := p.next(old, nc)
	if p.LogLevel {
		n.logLevel = nc.LogLevel
	}
	if p.ControlSocket && !lo.controlSocket {
		n.socket = nc.ControlSocket
	}
	if p.ControlGroup && !lo.controlGroup {
		n.group = nc.ControlGroup
	}
	listenerFailed := map[string]bool{}
	for _, c := range p.Listeners {
		if c.Op == OpRemove || c.Op == OpReplace {
			delete(n.listeners, c.Name)
		}
	}
	for _, c := range p.Listeners {
		if c.Op != OpAdd && c.Op != OpReplace {
			continue
		}
		keep, refused := lo.listeners[c.Name]
		switch {
		case !refused:
			n.listeners[c.Name] = next.BalancerConfig(c.New)
		case keep != nil:
			n.listeners[c.Name] = next.BalancerConfig(c.Old) // bound again where it was
			listenerFailed[c.Name] = true
		default:
			listenerFailed[c.Name] = true
			if lo.restore[c.Name] {
				for _, b := range c.Old.Backends {
					delete(n.checks, b.ID)
				}
			}
		}
	}
	for _, c := range p.Checks {
		if c.Op != OpRemove || listenerFailed[c.Backend.Listener] {
			continue
		}
		if _, ok := n.checks[c.Backend]; !ok {
			msgs = append(msgs, fmt.Sprintf("the plan removes the check of %s, which does not run", c.Backend))
		}
		delete(n.checks, c.Backend)
	}
	for _, c := range p.Listeners {
		if c.Op == OpUpdate {
			n.listeners[c.Name] = next.BalancerConfig(c.New)
		}
	}
	for _, c := range p.Checks {
		if listenerFailed[c.Backend.Listener] {
			continue
		}
		_, runs := n.checks[c.Backend]
		switch c.Op {
		case OpAdd:
			if runs {
				msgs = append(msgs, fmt.Sprintf("the plan adds the check of %s, which runs", c.Backend))
			}
			n.checks[c.Backend] = checkOf(c.New)
		case OpUpdate:
			if !runs {
				msgs = append(msgs, fmt.Sprintf("the plan updates the check of %s, which does not run", c.Backend))
			}
			n.checks[c.Backend] = checkOf(c.New)
		}
	}
	if (p.RealTimePriority || p.Sender) && !lo.rtPriority && !lo.sender {
		n.rtPrio, n.sender = nc.VRRPRealTimePriority, nc.VRRPSender
	}
	tm := trackModel(nc, lo.leftovers) // the listeners as they run
	inPlan := map[string]bool{}
	for _, c := range p.VRRP {
		inPlan[c.Name] = true
		if c.Op == OpRemove {
			delete(n.instances, c.Name)
		}
	}
	for _, c := range p.VRRP {
		switch c.Op {
		case OpAdd:
			if lo.instances[c.Name] {
				continue
			}
			if _, runs := n.instances[c.Name]; runs {
				msgs = append(msgs, fmt.Sprintf("the plan adds instance %s, which runs", c.Name))
			}
			n.instances[c.Name] = runtimeInstanceOf(c.New, tm)
		case OpUpdate:
			u, runs := n.instances[c.Name]
			if !runs {
				msgs = append(msgs, fmt.Sprintf("the plan updates instance %s, which does not run", c.Name))
				continue
			}
			if c.Notify && !lo.notify[c.Name] {
				u.notify = c.New.Notify
			}
			if (c.Settings || c.VIPs) && !lo.settings[c.Name] {
				if c.Settings {
					u.vrrp = c.New.VRRPConfig()
				}
				if c.VIPs {
					u.vips = c.New.VIPConfig()
				}
			}
			if (c.Tracks || tracksListenerOf(c.New, p)) && !lo.tracks[c.Name] {
				u.tracks = resolvedTracks(c.New, tm)
			}
			n.instances[c.Name] = u
		}
	}
	// The instances the plan leaves alone re-resolve their listener track
	// rules when a listener they track changes.
	for name, u := range n.instances {
		in, ok := old.VRRPInstance(name)
		if !ok || inPlan[name] {
			continue
		}
		kept := *in
		var dropped []config.Track
		kept.Track, dropped = fileTracks(in.Track, nc)
		if tracksListenerOf(in, p) || len(dropped) > 0 {
			// An instance awaiting a restart drops its rules naming
			// what the file removed.
			u.tracks = resolvedTracks(&kept, tm)
			n.instances[name] = u
		}
	}
	if p.Metrics && !lo.metrics {
		n.metrics = nc.MetricsListen
	}
	for name := range lo.forgot {
		delete(n.instances, name)
	}
	// The listeners whose bind became or ceased to be a VIP of the
	// daemon (as the running model has it) are configured again
	// (syncListenerVIPs).
	run := forget(running(old, nc, p, lo.leftovers), lo.forgot)
	for name, bc := range n.listeners {
		l, ok := run.Listener(name)
		if ok && run.VIPOwned(l.Bind.Addr()) != (bc.GracefulTimeout < 0) {
			n.listeners[name] = run.BalancerConfig(l)
		}
	}
	return n, msgs
}

// reportedAbsent reports whether the model problem m is a track rule that
// a reload with the refusals lo reports as naming what does not run (see
// absentTracks).
func reportedAbsent(m string, run *config.Config, lo leftovers) bool {
	for i := range run.VRRP {
		if strings.Contains(m, "instance "+run.VRRP[i].Name+" tracks") && len(absentTracks(&run.VRRP[i], lo)) > 0 {
			return true
		}
	}
	return false
}

// tracksListenerOf reports whether in tracks a listener that p changes,
// or a backend of one.
func tracksListenerOf(in *config.VRRPInstance, p Plan) bool {
	return slices.ContainsFunc(in.Track, func(t config.Track) bool {
		name := t.Listener
		if name == "" {
			name = t.Backend.Listener
		}
		return slices.ContainsFunc(p.Listeners, func(c ListenerChange) bool { return c.Name == name })
	})
}

// runtimeDiff describes how two runtime states differ.
func runtimeDiff(a, b runtimeState) string {
	var ds []string
	if a.logLevel != b.logLevel || a.metrics != b.metrics || a.group != b.group || a.socket != b.socket || a.rtPrio != b.rtPrio || a.sender != b.sender {
		ds = append(ds, fmt.Sprintf("globals %v %v %q %q %d %v / %v %v %q %q %d %v", a.logLevel, a.metrics, a.group, a.socket, a.rtPrio, a.sender, b.logLevel, b.metrics, b.group, b.socket, b.rtPrio, b.sender))
	}
	for _, name := range union(a.listeners, b.listeners) {
		if x, y := a.listeners[name], b.listeners[name]; !reflect.DeepEqual(x, y) {
			ds = append(ds, fmt.Sprintf("listener %s runs\n  %+v\nthe model says\n  %+v", name, x, y))
		}
	}
	for _, id := range union(a.checks, b.checks) {
		x, okx := a.checks[id]
		y, oky := b.checks[id]
		if okx != oky || !reflect.DeepEqual(x, y) {
			ds = append(ds, fmt.Sprintf("check of %s runs (%v) %+v, the model says (%v) %+v", id, okx, x, oky, y))
		}
	}
	for _, name := range union(a.instances, b.instances) {
		x, okx := a.instances[name]
		y, oky := b.instances[name]
		if okx != oky || !reflect.DeepEqual(x, y) {
			ds = append(ds, fmt.Sprintf("instance %s runs (%v)\n  %+v\nthe model says (%v)\n  %+v", name, okx, x, oky, y))
		}
	}
	return strings.Join(ds, "\n")
}

func union[K comparable, V any](a, b map[K]V) []K {
	var ks []K
	for k := range a {
		ks = append(ks, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(x, y K) int { return strings.Compare(fmt.Sprint(x), fmt.Sprint(y)) })
	return ks
}
