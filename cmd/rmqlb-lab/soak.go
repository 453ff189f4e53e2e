package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/backend"
)

// soakOptions are the flags of the fault soak.
type soakOptions struct {
	enabled bool
	cycles  int
	faults  string
	// cut is how long a link stays cut; hold how long the other faults
	// last before they are repaired.
	cut, hold time.Duration
	// settle bounds the wait for the lab to be healthy again after a
	// repair (and before each cycle).
	settle time.Duration
	// direct connects the clients straight to a broker the fault leaves
	// alone, instead of through the VIP: RabbitMQ's own behaviour, to
	// compare with.
	direct   bool
	seed     uint64
	jsonPath string
	events   string

	names []string // parsed faults
}

func (o *soakOptions) flags(fs *flag.FlagSet) {
	fs.BoolVar(&o.enabled, "soak", false, "run the fault soak instead of the demo scenario: every fault of -faults, -cycles times, with a table at the end")
	fs.IntVar(&o.cycles, "cycles", 20, "soak: cycles of each fault")
	fs.StringVar(&o.faults, "faults", strings.Join(faultNames(), ","), "soak: comma-separated faults to run, in this order: "+strings.Join(faultNames(), ", "))
	fs.DurationVar(&o.cut, "cut", 20*time.Second, "soak: how long a link stays cut")
	fs.DurationVar(&o.hold, "fault-hold", 10*time.Second, "soak: how long the other faults last before the repair")
	fs.DurationVar(&o.settle, "settle", 2*time.Minute, "soak: longest wait for the lab to be healthy (every check UP, the VIP home, the queue's replicas in sync, the clients flowing) before a cycle")
	fs.BoolVar(&o.direct, "direct", false, "soak: connect the clients straight to a broker the fault leaves alone instead of through the VIP (RabbitMQ's own behaviour)")
	fs.Uint64Var(&o.seed, "seed", 0, "soak: seed of the random schedule (0: from the clock; printed)")
	fs.StringVar(&o.jsonPath, "json", "", "soak: write every cycle's figures to this file as JSON")
	fs.StringVar(&o.events, "events", "", "soak: file for the detailed timeline of events (default: a file in the temp directory, printed)")
}

// check validates the soak's flags.
func (o *soakOptions) check() error {
	if !o.enabled {
		return nil
	}
	if o.cycles < 1 || o.cut <= 0 || o.hold <= 0 || o.settle <= 0 {
		return errors.New("-cycles, -cut, -fault-hold and -settle must be positive")
	}
	o.names = nil
	for _, n := range strings.Split(o.faults, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if _, ok := faultByName(n); !ok {
			return fmt.Errorf("-faults: unknown fault %q (known: %s)", n, strings.Join(faultNames(), ", "))
		}
		o.names = append(o.names, n)
	}
	if len(o.names) == 0 {
		return errors.New("-faults: no fault given")
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return nil
}

// cycleResult is what one cycle of a fault measured.
type cycleResult struct {
	Row   string `json:"row"`   // the table row: the fault's name or "random"
	Fault string `json:"fault"` // the fault injected
	Cycle int    `json:"cycle"` // 1-based within its row
	// Target is the host the fault hit; Roles what it was at the time
	// ("VIP owner", "queue leader").
	Target string   `json:"target"`
	Roles  []string `json:"roles,omitempty"`
	// Client is where the clients connected (the VIP, or a broker with
	// -direct).
	Client string `json:"client"`

	Start     time.Time `json:"start"`
	FaultAt   time.Time `json:"fault_at"`
	RestoreAt time.Time `json:"restore_at"`
	End       time.Time `json:"end"`

	// Producer and consumer outages: the longest time without a confirm
	// (a new delivery) that began before the repair (Fault) and after it
	// (Restore).
	ProducerOutage        time.Duration `json:"producer_outage_ns"`
	ConsumerOutage        time.Duration `json:"consumer_outage_ns"`
	ProducerOutageRestore time.Duration `json:"producer_outage_restore_ns"`
	ConsumerOutageRestore time.Duration `json:"consumer_outage_restore_ns"`
	// DeliveryDelay is the longest time from the confirm of a message
	// (confirmed from the fault on) to its delivery: a message the broker
	// handed to a consumer that is gone waits until the broker notices
	// (the heartbeat) and gives it to the live one. A message not
	// delivered by the cycle's end counts up to the end; after the drain
	// (delaysAfterDrain) one delivered later counts up to its delivery.
	DeliveryDelay time.Duration `json:"longest_delivery_delay_ns"`
	// RecoveredAfter is the time from the repair until the lab was
	// healthy again.
	RecoveredAfter time.Duration `json:"recovered_after_ns"`

	Confirmed      int `json:"confirmed"`
	Lost           int `json:"lost"`
	Duplicates     int `json:"duplicates"`
	ProdReconnects int `json:"producer_reconnects"`
	ConsReconnects int `json:"consumer_reconnects"`
	VIPTransitions int `json:"vip_transitions"`
	// OutOfRotation (freeze-broker): from SIGSTOP until every daemon's
	// check of the broker was DOWN and no daemon held a session to it.
	OutOfRotation time.Duration `json:"out_of_rotation_ns,omitempty"`
	// FalseDowns lists checks that went DOWN although the fault did not
	// touch their broker or their daemon ("daemon/backend").
	FalseDowns []string `json:"false_downs,omitempty"`
	// PartitionsLeft describes the partitions RabbitMQ reported after the
	// repair and did not heal within partitionGrace ("" when none); the
	// soak then restarted the app of the nodes concerned.
	PartitionsLeft string `json:"partitions_left,omitempty"`
	// AppsLeftStopped describes the nodes whose RabbitMQ application did
	// not run when the lab was still not healthy a settle time after the
	// repair (RabbitMQ asked, not rmqlb; "" when none); the soak then
	// started them (stoppedapp.go).
	AppsLeftStopped string `json:"apps_left_stopped,omitempty"`
	// Errors lists what went wrong: a fault that could not be injected or
	// repaired, a lab that did not recover.
	Errors []string `json:"errors,omitempty"`

	outOfRotationTotals map[string]int
}

// soakMain runs the soak on the built lab and returns the exit status: 0
// when every cycle ran and recovered and no confirmed message was lost.
func (l *lab) soakMain(ctx context.Context) int {
	o := l.opts.soak
	rnd := rand.New(rand.NewPCG(o.seed, o.seed))
	l.progress.Logf("soak: %s; RabbitMQ settings %s; clients %s; faults %s, %d cycles each; link cuts %v, other faults %v; seed %d",
		l.layout.Topology, l.settings, l.clientDesc(), strings.Join(o.names, ","), o.cycles, o.cut, o.hold, o.seed)
	var results []*cycleResult
	aborted := false
rows:
	for fi, name := range o.names {
		f, _ := faultByName(name)
		for c := 0; c < o.cycles; c++ {
			if ctx.Err() != nil {
				break rows
			}
			kind, tcycle := f, c
			if name == randomFault {
				kind, tcycle = drawRandom(rnd)
			}
			r := l.runCycle(ctx, name, kind, tcycle, c+1, fmt.Sprintf("%d/%d %s", fi+1, len(o.names), name))
			if ctx.Err() != nil {
				break rows
			}
			results = append(results, r)
			l.progressLine(r, results)
			if len(r.Errors) > 0 && !l.repair(ctx) {
				l.progress.Logf("the lab did not become healthy again after a repair: stopping the soak")
				aborted = true
				break rows
			}
		}
	}
	interrupted := ctx.Err() != nil
	t := l.finish(context.WithoutCancel(ctx))
	lostOutside := l.assignLost(results)
	l.delaysAfterDrain(results)
	table := soakTable(results, l.layout.Checks)
	l.tl.Plain(table)
	l.progress.Section("soak summary")
	l.progress.Plain(table)
	outside := ""
	if lostOutside > 0 {
		outside = fmt.Sprintf(" (%d of them confirmed outside any cycle)", lostOutside)
	}
	l.progress.Plain(fmt.Sprintf("\nmessages: confirmed %d, received %d, lost %d%s, duplicates %d, returned unroutable %d; connections: producer %d, consumer %d\n",
		t.Confirmed, t.Received, t.Lost, outside, t.Duplicates, t.Returned, t.ProdConns, t.ConsConns))
	if o.jsonPath != "" {
		if err := writeSoakJSON(o.jsonPath, l, results, t, lostOutside); err != nil {
			l.progress.Logf("writing %s: %v", o.jsonPath, err)
		} else {
			l.progress.Logf("figures of every cycle written to %s", o.jsonPath)
		}
	}
	if l.opts.svgDir != "" {
		l.writeSoakSVGs(results)
	}
	failed := interrupted || aborted || t.Lost > 0 || t.Confirmed == 0
	for _, r := range results {
		if len(r.Errors) > 0 {
			failed = true
		}
	}
	switch {
	case interrupted:
		l.progress.Plain("\nRESULT: INTERRUPTED\n")
	case failed:
		l.progress.Plain("\nRESULT: FAILED (see the table and the events)\n")
	default:
		l.progress.Plain("\nRESULT: PASSED: every cycle recovered, no confirmed message lost\n")
	}
	if failed {
		return 1
	}
	return 0
}

// clientDesc says where the clients connect.
func (l *lab) clientDesc() string {
	if l.opts.soak.direct {
		return "straight to a broker the fault leaves alone"
	}
	return "through the VIP " + l.layout.VIPAddr().String()
}

// runCycle runs one cycle of fault f as cycle number n of row: wait until
// the lab is healthy, inject, hold, repair, wait until healthy again.
// tcycle chooses the target.
func (l *lab) runCycle(ctx context.Context, row string, f fault, tcycle, n int, where string) *cycleResult {
	o := l.opts.soak
	r := &cycleResult{Row: row, Fault: f.Name, Cycle: n, Start: time.Now()}
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		r.Errors = append(r.Errors, msg)
		l.tl.Logf("CYCLE ERROR: %s", msg)
	}
	l.tl.Section("%s: cycle %d/%d (%s)", where, n, o.cycles, f.Name)
	if err := l.settle(ctx, o.settle); err != nil {
		fail("not healthy before the fault: %v", err)
		r.End = time.Now()
		return r
	}
	// A leader that cannot be placed leaves the cycle on the leader where
	// it is; the cycle's roles say where that was.
	moved, err := l.placeLeader(ctx, leaderPlacement(f.Name, tcycle))
	if err != nil {
		l.tl.Logf("could not place the queue's leader for the cycle: %v", err)
	}
	if moved {
		if err := l.settle(ctx, o.settle); err != nil {
			fail("not healthy after moving the queue's leader: %v", err)
			r.End = time.Now()
			return r
		}
	}
	target, err := f.target(l, tcycle)
	if err != nil {
		fail("choosing the target: %v", err)
		r.End = time.Now()
		return r
	}
	r.Target = target
	if m, _ := l.master(); m == target {
		r.Roles = append(r.Roles, "VIP owner")
	}
	if lh := l.queueLeaderHost(); lh == target {
		r.Roles = append(r.Roles, "queue leader")
	}
	r.Client = l.layout.VIPAddr().String()
	if o.direct {
		a := l.directTarget(target)
		r.Client = a.String()
		l.amqp.retarget(a)
		if err := l.waitFlowing(ctx, &stepResult{Start: time.Now()}, 30*time.Second); err != nil {
			fail("clients not flowing on %s before the fault: %v", a, err)
			r.End = time.Now()
			return r
		}
	}
	hold := o.hold
	if f.cut {
		hold = o.cut
	}
	l.progress.Logf("%s cycle %d/%d: %s on %s (%s) for %v",
		where, n, o.cycles, f.Desc, target, strings.Join(append([]string{"clients " + r.Client}, r.Roles...), ", "), hold)

	before := l.tally.totals()
	r.FaultAt = time.Now()
	l.tl.Logf("FAULT %s on %s", f.Name, target)
	if err := f.inject(ctx, l, target, r); err != nil {
		fail("%s on %s: %v", f.Name, target, err)
	}
	sleepCtx(ctx, time.Until(r.FaultAt.Add(hold)))
	if ctx.Err() != nil {
		return r
	}
	r.RestoreAt = time.Now()
	l.tl.Logf("REPAIR %s on %s", f.Name, target)
	if err := f.restore(ctx, l, target, r); err != nil {
		fail("repairing %s on %s: %v", f.Name, target, err)
	}
	err = l.settle(ctx, o.settle)
	var pe *partitionError
	if errors.As(err, &pe) {
		// RabbitMQ's own outcome, with the fault alone: recorded, and
		// repaired as its documentation says.
		r.PartitionsLeft = pe.describe()
		l.tl.Logf("%v", pe)
		l.restartPartitioned(ctx, pe.parts)
		err = l.settle(ctx, o.settle)
	}
	if err != nil && ctx.Err() == nil {
		// Not healthy: a node RabbitMQ left without its application
		// (asked of RabbitMQ) is its own outcome too; a check DOWN
		// against a running application is rmqlb's, and fails the cycle.
		if stopped := l.cluster.stoppedApps(ctx); len(stopped) > 0 {
			r.AppsLeftStopped = byHost(stopped, ": ")
			l.tl.Logf("not healthy after the repair (%v); RabbitMQ: %s", err, r.AppsLeftStopped)
			l.restartStopped(ctx, stopped)
			err = l.settle(ctx, o.settle)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return r
		}
		fail("not healthy %v after the repair: %v", o.settle, err)
	} else {
		r.RecoveredAfter = time.Since(r.RestoreAt)
	}
	sleepCtx(ctx, time.Second)
	r.End = time.Now()
	after := l.tally.totals()
	r.ProdReconnects = after.ProdConns - before.ProdConns
	r.ConsReconnects = after.ConsConns - before.ConsConns
	r.Duplicates = after.Duplicates - before.Duplicates
	l.measureCycle(r)
	return r
}

// directTarget is the broker the clients use with -direct for a fault on
// target: the first broker host that is not target.
func (l *lab) directTarget(target string) netip.AddrPort {
	for _, b := range l.layout.Brokers {
		if b.Name != target {
			return netip.AddrPortFrom(b.Addr.Addr(), l.layout.Port)
		}
	}
	return netip.AddrPortFrom(l.layout.Brokers[0].Addr.Addr(), l.layout.Port)
}

// measureCycle fills in the cycle's outages, confirms, VIP transitions and
// false DOWNs from the clients' and the watchers' records.
func (l *lab) measureCycle(r *cycleResult) {
	confirms, deliveries := l.tally.series()
	r.ProducerOutage, r.ProducerOutageRestore = splitGaps(confirms, r.FaultAt, r.RestoreAt, r.End)
	r.ConsumerOutage, r.ConsumerOutageRestore = splitGaps(deliveries, r.FaultAt, r.RestoreAt, r.End)
	for _, c := range confirms {
		if !c.Before(r.Start) && c.Before(r.End) {
			r.Confirmed++
		}
	}
	r.DeliveryDelay = l.tally.longestDelay(r.FaultAt, r.End, r.End)
	r.Errors = append(r.Errors, unwatched(l.vips.changes(), l.states.changes(), r.FaultAt)...)
	for _, v := range l.vips.changes() {
		if v.At.After(r.FaultAt) && !v.At.After(r.End) {
			r.VIPTransitions++
		}
	}
	seen := map[string]bool{}
	for _, c := range l.states.changes() {
		if c.State != backend.Down.String() || c.At.Before(r.FaultAt) || c.At.After(r.End) {
			continue
		}
		if c.Host == r.Target || c.Backend == r.Target {
			continue // the fault's own daemon or broker
		}
		k := c.Host + "/" + c.Backend
		if !seen[k] {
			seen[k] = true
			r.FalseDowns = append(r.FalseDowns, k)
		}
	}
}

// unwatched says which of the watchers' records the cycle's counts rely
// on had seen nothing by the fault: the VIP's holders (VIP transitions) or
// any daemon's checks (false DOWNs). A count over records that were never
// taken would be 0 without anything having been looked at.
func unwatched(vips []vipChange, checks []checkChange, fault time.Time) []string {
	var errs []string
	if !slices.ContainsFunc(vips, func(v vipChange) bool { return v.At.Before(fault) }) {
		errs = append(errs, "the VIP's holders were not seen before the fault: its transitions cannot be counted")
	}
	if !slices.ContainsFunc(checks, func(c checkChange) bool { return c.State != "" && c.At.Before(fault) }) {
		errs = append(errs, "no daemon's checks were seen before the fault: false DOWNs cannot be counted")
	}
	return errs
}

// splitGaps returns the longest interval without an element of ts (sorted)
// that began before restore (the one running at fault included: it began
// at the last element before fault) and the longest that began at or after
// restore, both clipped at end; an interval still open at end counts up to
// end.
func splitGaps(ts []time.Time, fault, restore, end time.Time) (before, after time.Duration) {
	add := func(from, to time.Time) {
		if to.After(end) {
			to = end
		}
		if from.Before(restore) {
			before = max(before, to.Sub(from))
		} else if from.Before(end) {
			after = max(after, to.Sub(from))
		}
	}
	var prev time.Time
	for _, t := range ts {
		if t.After(fault) {
			from := prev
			if from.IsZero() {
				from = fault
			}
			add(from, t)
			if !t.Before(end) {
				return before, after
			}
		}
		prev = t
	}
	if prev.IsZero() {
		prev = fault
	}
	add(prev, end)
	return before, after
}

// assignLost counts, per cycle, the messages confirmed in it that the
// consumer never received, and returns how many such messages were
// confirmed outside any cycle.
func (l *lab) assignLost(results []*cycleResult) (outside int) {
	return assignLost(results, l.tally.missingAt())
}

// assignLost adds each of missing (the confirm times of lost messages) to
// the Lost of the cycle it falls in, [Start, End) as for Confirmed, and
// returns how many fall in none (before the first cycle, between two,
// after the last).
func assignLost(results []*cycleResult, missing []time.Time) (outside int) {
	for _, at := range missing {
		i := slices.IndexFunc(results, func(r *cycleResult) bool { return !at.Before(r.Start) && at.Before(r.End) })
		if i < 0 {
			outside++
			continue
		}
		results[i].Lost++
	}
	return outside
}

// delaysAfterDrain recomputes the longest delivery delay of each measured
// cycle once the consumer has drained the queue: a message still
// outstanding at the cycle's end then counts up to its delivery, or, never
// delivered, up to the cycle's end.
func (l *lab) delaysAfterDrain(results []*cycleResult) {
	for _, r := range results {
		if !r.FaultAt.IsZero() && !r.End.IsZero() {
			r.DeliveryDelay = l.tally.longestDelay(r.FaultAt, r.End, r.End)
		}
	}
}

// healthy reports whether the lab is back to its steady state: every
// rmqlb running and seeing every broker UP, the VIP on the host with the
// highest priority alone, and both clients flowing.
func (l *lab) healthy() (bool, string) {
	for _, b := range l.layout.Brokers {
		if !l.daemons[b.Name].running() {
			return false, "rmqlb on " + b.Name + " not running"
		}
	}
	if ok, why := l.allUp(); !ok {
		return false, why
	}
	home := l.layout.Brokers[0].Name
	if hs, _ := l.vips.current(); len(hs) != 1 || hs[0] != home {
		return false, fmt.Sprintf("VIP on %v, not on %s alone", hs, home)
	}
	c, d := l.tally.lastProgress()
	if now := time.Now(); now.Sub(c) > 500*time.Millisecond || now.Sub(d) > 500*time.Millisecond {
		return false, fmt.Sprintf("clients not flowing: last confirm %v ago, last new delivery %v ago",
			now.Sub(c).Round(time.Millisecond), now.Sub(d).Round(time.Millisecond))
	}
	return true, ""
}

// queueSynced reports whether every replica of the queue is online
// (quorum) or synchronised (mirrored), asked of the VIP owner's node.
func (l *lab) queueSynced(ctx context.Context) (bool, string) {
	m, err := l.master()
	if err != nil {
		return false, err.Error()
	}
	info := l.cluster.queueInfo(ctx, m)
	_, row, _ := strings.Cut(info, ") ")
	// quorum: name type leader [members] [online]; mirrored: name type pid
	// [slaves] [synchronised]: compare the two lists.
	lists := strings.SplitAfter(row, "]")
	if len(lists) < 3 {
		return false, "queue: " + info
	}
	count := func(s string) int {
		_, list, _ := strings.Cut(s, "[")
		return strings.Count(list, "@")
	}
	want := len(l.layout.Brokers)
	if l.cluster.queueType != "quorum" {
		want-- // the master is not in slave_pids
	}
	if count(lists[0]) != want || count(lists[1]) != want {
		return false, "queue replicas not all in sync: " + info
	}
	return true, ""
}

// settle waits up to timeout for healthy and then for the queue's
// replicas.
func (l *lab) settle(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last, lastAt := "", time.Time{}
	var partedSince time.Time
	healthy := func() (bool, string) {
		ok, why := l.healthy()
		// A changed reason, at most every 2 s: the daemons are asked in
		// no set order, and the figures in a reason change each poll.
		if !ok && why != last && time.Since(lastAt) > 2*time.Second {
			l.tl.Logf("waiting for the lab to be healthy: %s", why)
			last, lastAt = why, time.Now()
		}
		return ok, why
	}
	for {
		err := l.waitFor(ctx, time.Until(deadline), healthy)
		if err != nil {
			return err
		}
		ok, why := l.queueSynced(ctx)
		if ok {
			return nil
		}
		if parts := l.cluster.partitioned(ctx); len(parts) > 0 {
			why = fmt.Sprintf("%s; RabbitMQ reports partitions: %v", why, parts)
			if partedSince.IsZero() {
				partedSince = time.Now()
			} else if time.Since(partedSince) >= partitionGrace {
				return &partitionError{parts: parts}
			}
		} else {
			partedSince = time.Time{}
		}
		if why != last {
			l.tl.Logf("waiting for the queue: %s", why)
			last = why
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %s", timeout, why)
		}
		sleepCtx(ctx, time.Second)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// partitionGrace is how long settle waits for RabbitMQ to heal a
// partition its nodes report (pause_minority heals the partitions it
// acts on within seconds) before it gives up with a partitionError.
const partitionGrace = 30 * time.Second

// partitionError is settle giving up on a partition RabbitMQ did not heal.
type partitionError struct {
	parts map[string]string // host: the nodes it is partitioned from
}

func (e *partitionError) Error() string {
	return fmt.Sprintf("RabbitMQ did not heal its partitions within %v: %s", partitionGrace, e.describe())
}

// describe lists the partitions in host order.
func (e *partitionError) describe() string { return byHost(e.parts, " from ") }

// byHost lists m's entries in host order, each as host, sep, value,
// separated by "; ".
func byHost(m map[string]string, sep string) string {
	var parts []string
	for _, h := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, h+sep+m[h])
	}
	return strings.Join(parts, "; ")
}

// restartPartitioned restarts the RabbitMQ app (stop_app, start_app) of
// each node in parts, as RabbitMQ's documentation tells an operator to do
// with a partition that partition handling did not heal.
func (l *lab) restartPartitioned(ctx context.Context, parts map[string]string) {
	for h, p := range parts {
		l.tl.Logf("%s reports partitions %s: stop_app, start_app", h, p)
		for _, cmd := range []string{"stop_app", "start_app"} {
			if err := ctlApp(cmd)(ctx, l, h, nil); err != nil {
				l.tl.Logf("%s on %s: %v", cmd, h, err)
			}
		}
	}
}

// repair puts every host back in order after a cycle that went wrong:
// links up, brokers thawed, running and their app started, every rmqlb
// running. It reports whether the lab became healthy within the settle
// time.
func (l *lab) repair(ctx context.Context) bool {
	l.tl.Section("repair after a cycle that went wrong")
	for _, b := range l.layout.Brokers {
		h, n := l.net.Host(b.Name), l.cluster.nodes[b.Name]
		if err := l.net.RestoreLink(h); err != nil {
			l.tl.Logf("repair: link of %s: %v", b.Name, err)
		}
		_ = n.Thaw()
		if !n.Running() {
			if err := restartBroker(ctx, l, b.Name, nil); err != nil {
				l.tl.Logf("repair: booting %s: %v", b.Name, err)
			}
		}
		if err := ctlApp("start_app")(ctx, l, b.Name, nil); err != nil {
			l.tl.Logf("repair: start_app on %s: %v", b.Name, err)
		}
		if err := startRmqlb(ctx, l, b.Name, nil); err != nil {
			l.tl.Logf("repair: rmqlb on %s: %v", b.Name, err)
		}
	}
	l.restartPartitioned(ctx, l.cluster.partitioned(ctx))
	l.restartStopped(ctx, l.cluster.stoppedApps(ctx))
	if err := l.settle(ctx, l.opts.soak.settle); err != nil {
		l.tl.Logf("repair: %v", err)
		return false
	}
	return true
}

// progressLine prints a cycle's figures and the running totals.
func (l *lab) progressLine(r *cycleResult, all []*cycleResult) {
	t := l.tally.totals()
	errs := 0
	for _, x := range all {
		if len(x.Errors) > 0 {
			errs++
		}
	}
	status := "ok"
	if len(r.Errors) > 0 {
		status = "ERROR: " + strings.Join(r.Errors, "; ")
	}
	extra := ""
	if r.OutOfRotation > 0 {
		extra += fmt.Sprintf(", out of rotation after %v", r.OutOfRotation.Round(time.Millisecond))
	}
	if len(r.FalseDowns) > 0 {
		extra += ", false DOWN " + strings.Join(r.FalseDowns, " ")
	}
	if r.PartitionsLeft != "" {
		extra += ", RabbitMQ left partitions (app restarted): " + r.PartitionsLeft
	}
	if r.AppsLeftStopped != "" {
		extra += ", RabbitMQ left its application stopped (started): " + r.AppsLeftStopped
	}
	l.progress.Logf("  %s %s on %s: outage producer %v / consumer %v, after the repair %v / %v; longest delivery delay %v; recovered %v after the repair; reconnects %d/%d, VIP moves %d%s; %s",
		r.Row, r.Fault, r.Target, r.ProducerOutage.Round(time.Millisecond), r.ConsumerOutage.Round(time.Millisecond),
		r.ProducerOutageRestore.Round(time.Millisecond), r.ConsumerOutageRestore.Round(time.Millisecond), r.DeliveryDelay.Round(time.Millisecond),
		r.RecoveredAfter.Round(100*time.Millisecond), r.ProdReconnects, r.ConsReconnects, r.VIPTransitions, extra, status)
	l.progress.Logf("  totals after %d cycles: confirmed %d, received %d, outstanding %d, duplicates %d, returned unroutable %d, cycles with errors %d",
		len(all), t.Confirmed, t.Received, t.Lost, t.Duplicates, t.Returned, errs)
}

// defaultEventsPath is the events file of a soak run without -events.
func defaultEventsPath() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("rmqlb-soak-%s-%d.events", time.Now().Format("20060102-150405"), os.Getpid()))
}
