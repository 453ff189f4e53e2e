package balancer

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestChoiceSequences drives the listener's choice of backend (choose,
// attemptFailed, sessionEnded: the calls a session makes, without
// sockets) over an injected clock with random steps, and checks every
// choice and every count against a reference model written from the
// README ("listeners[]", "backends[]") and the doc comments of Config,
// BackendConfig, Listener and the policies. What the model holds them to:
//
// Choice:
//   - A new connection goes only to a usable backend: configured (not
//     removed by a reload), serving (UP or DEGRADED: not DOWN, MAINT or
//     DRAIN), of weight in effect above 0, below its maxconn, and not
//     one this connection already tried. A choice never takes a backend
//     past its maxconn. With none usable the client gets none, and "full"
//     says whether a serving backend of weight above 0 was skipped only
//     for its maxconn.
//   - roundrobin visits the usable backends in configuration order, one
//     each, going on from the one after the last it picked, weights
//     ignored. While a usable backend is in slow start (share below
//     100 %) it picks by smooth weighted round robin over the shares
//     instead, and its place in the turn is left as it was.
//   - wrr is nginx's smooth weighted round robin over weight times share:
//     each usable backend's current weight grows by its weight, the
//     largest (the first in order on a tie) wins and loses the sum; from
//     a fresh start, with nothing changing, every window of sum(weights)
//     picks holds each backend weight times.
//   - leastconn picks the lowest active/(weight times share), ties going
//     to the first at or after the one after its last pick (round robin
//     order).
//   - A backup backend is a candidate only while no other backend is
//     usable (and not tried by this connection); then the policy picks
//     among the usable backups with all_backups, and otherwise the first
//     usable backup in configuration order takes the connection.
//   - The sequence starts over (round robin place 0, current weights 0)
//     when the backends, their weights in effect or which of them are
//     backups change (a reload, an operator's weight) or the policy does;
//     not for a change of state or of slow-start share, nor for a reload
//     that changes none of these.
//
// Persistence (persistence_timeout above 0):
//   - The client key is the client address, an IPv4 one (or v4-mapped
//     IPv6) masked to persistence_netmask bits; an IPv6 one masked to
//     persistence_netmask6 bits (whole by default), its zone dropped.
//   - A session takes its key's entry at its first choice and holds it to
//     its end (its retries use the same entry). A key with an entry that
//     has sessions, or whose last session ended less than the timeout ago
//     (now before end+timeout: at exactly the timeout it has expired), is
//     pinned to its backend: a new connection goes to that backend while
//     it is usable (and not tried by this connection) and, if a backup,
//     one the policy could choose now (see above); otherwise the
//     policy picks and the key is pinned to the pick. An expired entry
//     taken again starts unpinned.
//   - DOWN and MAINT forget the backend's pins; DRAIN, weight 0 and
//     maxconn do not, but the pinned backend is not usable then and the
//     client is re-pinned to the policy's pick. A failed connect unpins
//     the client from the backend that failed.
//   - The table holds at most persistence_max_clients keys (the expired
//     but not yet swept ones counted, until a sweep, which the table also
//     does when it is full and a new key comes); a new key beyond it is
//     balanced without a pin and counted (StickyFull); no entry is
//     evicted for it. A sweep deletes exactly the expired entries.
//   - A reload keeps the table when persistence stays on with the same
//     netmask: the pins of the backends that stay (same name) are kept,
//     those of removed backends are forgotten, a lowered timeout brings
//     the expiry of the idle entries forward to at most now plus the new
//     timeout, a lowered max-clients keeps the entries above it. Any
//     other change of persistence starts an empty table; the sessions of
//     the old one end without touching the new one.
//   - Pins handed over by a predecessor (AddPins) are added for the keys
//     without an entry, to backends the listener has, lasting their
//     remaining time but at most the timeout, as many as the table has
//     room for; Pins lists for a successor the live entries that pin a
//     backend, with the whole timeout for those with sessions.
//
// Backends and counts:
//   - A reload keeps the state, slow-start share and sessions of a
//     backend that stays, and its operator's weight unless its
//     configuration changed; an added backend is UP, or DOWN if checked;
//     a removed one that still has sessions and comes back with the same
//     name and address is the same backend, with its sessions.
//   - Every backend's active count is its sessions (connecting or
//     established), and the Snapshot shows the model's states, weights,
//     shares, maxconn, active counts and persistence entries (key,
//     backend, sessions, expiry of the idle ones).
//
// The listener-wide maxconn is not drawn: it is taken in the accept path
// (newSession), before any choice.
//
// Each failing sequence prints its seed and the end of its trace;
// -choice.seed replays one with its whole trace, -choice.runs and
// -choice.steps run more and longer ones:
//
//	go test ./balancer -run TestChoiceSequences -choice.runs=20000
//	go test ./balancer -run TestChoiceSequences -choice.seed=17
var (
	choiceSeed  = flag.Uint64("choice.seed", 0, "run the choice sequence of this seed only, with its trace")
	choiceRuns  = flag.Int("choice.runs", 250, "choice sequences to run, from a seed of the time")
	choiceSteps = flag.Int("choice.steps", 250, "steps per choice sequence")
	choiceTail  = flag.Int("choice.tail", 80, "lines of a failing sequence's trace printed (0: all)")
)

func TestChoiceSequences(t *testing.T) {
	if *choiceSeed != 0 {
		res := runChoiceSequence(*choiceSeed, *choiceSteps)
		t.Logf("seed %d trace:\n%s", *choiceSeed, strings.Join(res.trace, "\n"))
		if res.err != nil {
			t.Fatalf("seed %d: %v", *choiceSeed, res.err)
		}
		t.Logf("stats: %s", res.stats)
		return
	}
	first := uint64(time.Now().UnixNano())
	var total choiceStats
	for i := range *choiceRuns {
		seed := first + uint64(i)
		res := runChoiceSequence(seed, *choiceSteps)
		total.add(res.stats)
		if res.err != nil {
			tr := res.trace
			if n := *choiceTail; n > 0 && len(tr) > n {
				tr = append([]string{fmt.Sprintf("(%d lines before)", len(tr)-n)}, tr[len(tr)-n:]...)
			}
			t.Fatalf("seed %d: %v (replay with -choice.seed=%d)\ntrace:\n%s", seed, res.err, seed, strings.Join(tr, "\n"))
		}
	}
	t.Logf("seeds %d..%d: %s", first, first+uint64(*choiceRuns)-1, total)
}

// choiceStats counts what the sequences exercised.
type choiceStats struct {
	seqs, steps, choices, pinned, repinned, unpinned, none, full int
	fails, redispatches, ends, reloads, states, weights, sweeps  int
	expiries, windows, tableResets, keptBack, advancesToExpiry   int
	pinsAdded                                                    int
	byPolicy                                                     map[Policy]int
}

func (s *choiceStats) add(o choiceStats) {
	s.seqs += o.seqs
	s.steps += o.steps
	s.choices += o.choices
	s.pinned += o.pinned
	s.repinned += o.repinned
	s.unpinned += o.unpinned
	s.none += o.none
	s.full += o.full
	s.fails += o.fails
	s.redispatches += o.redispatches
	s.ends += o.ends
	s.reloads += o.reloads
	s.states += o.states
	s.weights += o.weights
	s.sweeps += o.sweeps
	s.expiries += o.expiries
	s.windows += o.windows
	s.tableResets += o.tableResets
	s.keptBack += o.keptBack
	s.advancesToExpiry += o.advancesToExpiry
	s.pinsAdded += o.pinsAdded
	if s.byPolicy == nil {
		s.byPolicy = map[Policy]int{}
	}
	for p, n := range o.byPolicy {
		s.byPolicy[p] += n
	}
}

func (s choiceStats) String() string {
	return fmt.Sprintf("%d sequences, %d steps, %d choices (roundrobin %d, wrr %d, leastconn %d; %d by a pin, %d re-pinned, %d unpinned for a full table, %d with no backend of which %d full), "+
		"%d connect failures, %d redispatches, %d sessions ended, %d reloads (%d new tables, %d removed backends back with their sessions), %d state changes, %d weight changes, %d sweeps, %d entries expired, %d clock moves to an expiry, %d full wrr/roundrobin windows checked, %d pins handed over",
		s.seqs, s.steps, s.choices, s.byPolicy[PolicyRoundRobin], s.byPolicy[PolicyWRR], s.byPolicy[PolicyLeastConn], s.pinned, s.repinned, s.unpinned, s.none, s.full,
		s.fails, s.redispatches, s.ends, s.reloads, s.tableResets, s.keptBack, s.states, s.weights, s.sweeps, s.expiries, s.advancesToExpiry, s.windows, s.pinsAdded)
}

// The reference model.

// mBackend is the model of one backend object: a backend that a reload
// removes and brings back with its sessions is the same mBackend.
type mBackend struct {
	real      *backend // the listener's object
	name      string
	addr      netip.AddrPort
	maxConn   int
	weight    int
	cfgWeight int
	override  bool
	percent   int
	state     rbackend.State
	active    int
	cw        int64
	removed   bool
	backup    bool
}

func (b *mBackend) usable() bool {
	return !b.removed && b.state.Serving() && b.weight > 0 && (b.maxConn == 0 || b.active < b.maxConn)
}

// share is the weight wrr and leastconn use: weight times share.
func (b *mBackend) share() int64 { return int64(b.weight) * int64(b.percent) }

// mEntry is the model of one persistence entry.
type mEntry struct {
	key     netip.Addr
	be      *mBackend
	conns   int
	expires time.Time
	table   *mTable
}

// mNoPin is the entry of a session whose key found the table full.
var mNoPin = &mEntry{}

type mTable struct {
	timeout time.Duration
	bits    int
	bits6   int
	max     int
	entries map[netip.Addr]*mEntry
}

func (t *mTable) key(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, t.bits).Masked().Addr()
	}
	return netip.PrefixFrom(a, t.bits6).Masked().Addr()
}

func (t *mTable) sweep(now time.Time) int {
	n := 0
	for k, e := range t.entries {
		if e.conns == 0 && !now.Before(e.expires) {
			delete(t.entries, k)
			n++
		}
	}
	return n
}

type choiceModel struct {
	cfg    Config // as last given (NewListener, Apply), defaults applied
	policy Policy
	pool   []*mBackend
	next   int // round robin place: index of the first candidate
	kept   []*mBackend
	table  *mTable
	full   int // StickyFull

	// window is the stretch of policy picks since the last restart, while
	// nothing that the picks depend on changed: sig is what they depend
	// on, picks the names picked.
	window struct {
		valid bool
		sig   string
		picks []string
	}
}

func newChoiceModel(cfg Config, now time.Time) *choiceModel {
	m := &choiceModel{cfg: cfg, policy: cfg.Policy}
	for _, bc := range cfg.Backends {
		m.pool = append(m.pool, newMBackend(bc))
	}
	if cfg.PersistenceTimeout > 0 {
		m.table = &mTable{timeout: cfg.PersistenceTimeout, bits: cfg.PersistenceNetmask, bits6: cfg.PersistenceNetmask6, max: cfg.PersistenceMaxClients, entries: map[netip.Addr]*mEntry{}}
	}
	m.restart()
	return m
}

func newMBackend(bc BackendConfig) *mBackend {
	b := &mBackend{name: bc.Name}
	b.configure(bc)
	return b
}

func (b *mBackend) configure(bc BackendConfig) {
	b.addr, b.maxConn, b.backup = bc.Address, bc.MaxConn, bc.Backup
	b.weight, b.cfgWeight, b.override = bc.Weight, bc.Weight, false
	b.percent, b.cw, b.removed = 100, 0, false
	b.state = rbackend.Up
	if bc.Checked {
		b.state = rbackend.Down
	}
}

func (m *choiceModel) restart() {
	m.next = 0
	for _, b := range m.pool {
		b.cw = 0
	}
	m.window.valid, m.window.sig, m.window.picks = true, "", nil
}

func (m *choiceModel) byName(name string) *mBackend {
	for _, b := range m.pool {
		if b.name == name {
			return b
		}
	}
	return nil
}

// smooth is nginx's smooth weighted round robin over w among ok.
func (m *choiceModel) smooth(ok func(*mBackend) bool, w func(*mBackend) int64) *mBackend {
	var best *mBackend
	var sum int64
	for _, b := range m.pool {
		if !ok(b) {
			continue
		}
		b.cw += w(b)
		sum += w(b)
		if best == nil || b.cw > best.cw {
			best = b
		}
	}
	if best != nil {
		best.cw -= sum
	}
	return best
}

// pick is the choice among the usable backends not in tried: the
// policy's among the active ones, else among the backups (allBackups) or
// the first backup.
func (m *choiceModel) pick(tried []*mBackend) (*mBackend, bool) {
	usable := func(b *mBackend) bool { return b.usable() && !slices.Contains(tried, b) }
	active := func(b *mBackend) bool { return !b.backup && usable(b) }
	backup := func(b *mBackend) bool { return b.backup && usable(b) }
	var b *mBackend
	switch {
	case slices.ContainsFunc(m.pool, active):
		b = m.byPolicy(tried, active)
	case m.cfg.AllBackups:
		b = m.byPolicy(tried, backup)
	default:
		// Not the policy's: the window of its picks ends.
		m.window.valid = false
		if i := slices.IndexFunc(m.pool, backup); i >= 0 {
			b = m.pool[i]
		}
	}
	if b != nil {
		return b, false
	}
	full := slices.ContainsFunc(m.pool, func(c *mBackend) bool {
		return !c.removed && c.state.Serving() && c.weight > 0 && c.maxConn > 0 && c.active >= c.maxConn && !slices.Contains(tried, c)
	})
	return nil, full
}

// eligible reports whether pinned backend b may take a connection that
// tried the backends in tried: it is usable, not tried, and either not a
// backup or one pick could choose now.
func (m *choiceModel) eligible(b *mBackend, tried []*mBackend) bool {
	usable := func(b *mBackend) bool { return b.usable() && !slices.Contains(tried, b) }
	switch {
	case !usable(b):
		return false
	case !b.backup:
		return true
	case slices.ContainsFunc(m.pool, func(c *mBackend) bool { return !c.backup && usable(c) }):
		return false
	case m.cfg.AllBackups:
		return true
	}
	return m.pool[slices.IndexFunc(m.pool, func(c *mBackend) bool { return c.backup && usable(c) })] == b
}

// byPolicy is the policy's choice among the backends ok accepts.
func (m *choiceModel) byPolicy(tried []*mBackend, ok func(*mBackend) bool) *mBackend {
	m.noteWindow(tried, ok)
	var b *mBackend
	n := len(m.pool)
	switch m.policy {
	case PolicyWRR:
		b = m.smooth(ok, (*mBackend).share)
	case PolicyLeastConn:
		bi := -1
		for i := range n {
			j := (m.next + i) % n
			c := m.pool[j]
			if !ok(c) {
				continue
			}
			// c/cs < b/bs, in exact integers.
			if b == nil || int64(c.active)*b.share() < int64(b.active)*c.share() {
				b, bi = c, j
			}
		}
		if b != nil {
			m.next = (bi + 1) % n
		}
	default:
		slow := slices.ContainsFunc(m.pool, func(c *mBackend) bool { return ok(c) && c.percent < 100 })
		if slow {
			b = m.smooth(ok, func(c *mBackend) int64 { return int64(c.percent) })
			break
		}
		for i := range n {
			j := (m.next + i) % n
			if ok(m.pool[j]) {
				b = m.pool[j]
				m.next = (j + 1) % n
				break
			}
		}
	}
	if b != nil && m.window.valid {
		m.window.picks = append(m.window.picks, b.name)
	}
	return b
}

// noteWindow ends the window of picks when what a pick depends on
// differs from the window's first pick: the set of candidates, their
// weights and shares, the policy. A retry (tried) ends it too.
func (m *choiceModel) noteWindow(tried []*mBackend, ok func(*mBackend) bool) {
	if !m.window.valid {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s", m.policy)
	for _, b := range m.pool {
		if ok(b) {
			fmt.Fprintf(&sb, " %s:%d:%d", b.name, b.weight, b.percent)
		}
	}
	switch sig := sb.String(); {
	case len(tried) > 0:
		m.window.valid = false
	case m.window.sig == "":
		m.window.sig = sig
	case m.window.sig != sig:
		m.window.valid = false
	}
}

// checkWindow checks the policy's promise over whole windows of the
// picks since a restart: roundrobin visits the candidates in order, one
// each; wrr (and roundrobin in slow start) gives each its weight (share)
// in every window of sum(weights) picks.
func (m *choiceModel) checkWindow() (bool, error) {
	w := &m.window
	if !w.valid || len(w.picks) == 0 || m.policy == PolicyLeastConn {
		return false, nil
	}
	var names []string
	want := map[string]int{}
	sum := 0
	slow := false
	for _, f := range strings.Fields(w.sig)[1:] {
		var name string
		var weight, percent int
		parts := strings.Split(f, ":")
		name = parts[0]
		fmt.Sscan(parts[1], &weight)
		fmt.Sscan(parts[2], &percent)
		names = append(names, name)
		if percent < 100 {
			slow = true
		}
		want[name] = weight * percent
	}
	if m.policy == PolicyRoundRobin {
		if !slow {
			for i, p := range w.picks {
				if p != names[i%len(names)] {
					return false, fmt.Errorf("roundrobin pick %d since the start of its sequence is %s, want %s (candidates %v, picks %v)", i, p, names[i%len(names)], names, w.picks)
				}
			}
			return len(w.picks)%len(names) == 0, nil
		}
		for _, f := range strings.Fields(w.sig)[1:] {
			parts := strings.Split(f, ":")
			var percent int
			fmt.Sscan(parts[2], &percent)
			want[parts[0]] = percent
		}
	}
	for _, n := range want {
		sum += n
	}
	if len(w.picks)%sum != 0 {
		return false, nil
	}
	win := w.picks[len(w.picks)-sum:]
	got := map[string]int{}
	for _, p := range win {
		got[p]++
	}
	for name, n := range want {
		if got[name] != n {
			return false, fmt.Errorf("%s window of %d picks since its start gives %s %d picks, want %d (candidates %s, window %v)", m.policy, sum, name, got[name], n, w.sig, win)
		}
	}
	return true, nil
}

// choose is the model's choice for a connection attempt of client; *e is
// the session's entry (set on its first choice).
func (m *choiceModel) choose(client netip.Addr, e **mEntry, tried []*mBackend, now time.Time, st *choiceStats) (*mBackend, bool, string) {
	how := "policy"
	var b *mBackend
	var full bool
	if t := m.table; t != nil {
		if *e == nil {
			*e = m.acquire(t, t.key(client), now)
		}
		switch en := *e; {
		case en == mNoPin:
			how = "unpinned (table full)"
			st.unpinned++
			b, full = m.pick(tried)
		case en.be != nil && m.eligible(en.be, tried):
			how = "pinned"
			st.pinned++
			b = en.be
		default:
			if en.be != nil {
				how = "re-pinned from " + en.be.name
				st.repinned++
			} else {
				how = "pinned now"
			}
			if b, full = m.pick(tried); b != nil {
				en.be = b
			}
		}
	} else {
		b, full = m.pick(tried)
	}
	if b != nil {
		b.active++
		full = false
	}
	return b, full, how
}

func (m *choiceModel) acquire(t *mTable, key netip.Addr, now time.Time) *mEntry {
	e := t.entries[key]
	switch {
	case e == nil:
		if len(t.entries) >= t.max {
			t.sweep(now)
		}
		if len(t.entries) >= t.max {
			m.full++
			return mNoPin
		}
		e = &mEntry{key: key, table: t}
		t.entries[key] = e
	case e.conns == 0 && !now.Before(e.expires):
		e.be = nil
	}
	e.conns++
	return e
}

func (m *choiceModel) release(e *mEntry, now time.Time) {
	if e == nil || e == mNoPin {
		return
	}
	e.conns--
	if e.conns == 0 {
		e.expires = now.Add(e.table.timeout)
	}
}

func (m *choiceModel) forget(b *mBackend) {
	if m.table == nil {
		return
	}
	for _, e := range m.table.entries {
		if e.be == b {
			e.be = nil
		}
	}
}

func (m *choiceModel) setState(b *mBackend, st rbackend.State) {
	if b.state == st {
		return
	}
	b.state = st
	if st == rbackend.Down || st == rbackend.Maint {
		m.forget(b)
	}
}

func (m *choiceModel) setWeight(b *mBackend, set func(*mBackend)) {
	was := b.weight
	set(b)
	if b.weight != was {
		m.restart()
	}
}

// apply is the model of a reload with cfg (defaults applied); it returns
// how many removed backends came back with their sessions.
func (m *choiceModel) apply(cfg Config, now time.Time) (back int) {
	type member struct {
		b      *mBackend
		w      int
		backup bool
	}
	members := func() []member {
		var ms []member
		for _, b := range m.pool {
			ms = append(ms, member{b, b.weight, b.backup})
		}
		return ms
	}
	was := members()
	old := map[string]BackendConfig{}
	for _, bc := range m.cfg.Backends {
		old[bc.Name] = bc
	}
	m.kept = slices.DeleteFunc(m.kept, func(b *mBackend) bool { return b.active == 0 })
	var next []*mBackend
	stays := map[string]bool{}
	for _, bc := range cfg.Backends {
		stays[bc.Name] = true
		if b := m.byName(bc.Name); b != nil {
			if b.override && old[bc.Name] != bc {
				b.override = false
			}
			b.addr, b.maxConn, b.cfgWeight, b.backup = bc.Address, bc.MaxConn, bc.Weight, bc.Backup
			if !b.override {
				b.weight = bc.Weight
			}
			next = append(next, b)
			continue
		}
		i := slices.IndexFunc(m.kept, func(k *mBackend) bool { return k.name == bc.Name && k.addr == bc.Address })
		if i >= 0 {
			b := m.kept[i]
			m.kept = slices.Delete(m.kept, i, i+1)
			b.configure(bc)
			next = append(next, b)
			back++
			continue
		}
		next = append(next, newMBackend(bc))
	}
	for _, b := range m.pool {
		if !stays[b.name] {
			b.removed = true
			m.forget(b)
			if b.active > 0 {
				m.kept = append(m.kept, b)
			}
		}
	}
	m.pool = next
	if cfg.Policy != m.policy || !slices.Equal(was, members()) {
		m.policy = cfg.Policy
		m.restart()
	}
	if t := m.table; t != nil && cfg.PersistenceTimeout > 0 && t.bits == cfg.PersistenceNetmask && t.bits6 == cfg.PersistenceNetmask6 {
		if limit := now.Add(cfg.PersistenceTimeout); cfg.PersistenceTimeout < t.timeout {
			for _, e := range t.entries {
				if e.conns == 0 && e.expires.After(limit) {
					e.expires = limit
				}
			}
		}
		t.timeout, t.max = cfg.PersistenceTimeout, cfg.PersistenceMaxClients
	} else {
		m.table = nil
		if cfg.PersistenceTimeout > 0 {
			m.table = &mTable{timeout: cfg.PersistenceTimeout, bits: cfg.PersistenceNetmask, bits6: cfg.PersistenceNetmask6, max: cfg.PersistenceMaxClients, entries: map[netip.Addr]*mEntry{}}
		}
	}
	m.cfg = cfg
	return back
}

// addPins is the model of AddPins: pins to a configured backend, for a
// key without an entry, lasting their Remaining (above 0) but at most
// the timeout, as many as the table has room for once swept, in order.
func (m *choiceModel) addPins(pins []Pin, now time.Time) int {
	t := m.table
	if t == nil {
		return 0
	}
	var add []*mEntry
	for _, p := range pins {
		b := m.byName(p.Backend)
		if b == nil || p.Remaining <= 0 || !p.Client.IsValid() {
			continue
		}
		key := t.key(p.Client)
		if t.entries[key] != nil || slices.ContainsFunc(add, func(e *mEntry) bool { return e.key == key }) {
			continue
		}
		add = append(add, &mEntry{key: key, be: b, expires: now.Add(min(p.Remaining, t.timeout)), table: t})
	}
	t.sweep(now)
	add = add[:max(0, min(len(add), t.max-len(t.entries)))]
	for _, e := range add {
		t.entries[e.key] = e
	}
	return len(add)
}

// pins is the model of Pins: the live entries that pin a backend, with
// the whole timeout for those with sessions.
func (m *choiceModel) pins(now time.Time) []Pin {
	t := m.table
	if t == nil {
		return nil
	}
	var ps []Pin
	for k, e := range t.entries {
		if e.be == nil || (e.conns == 0 && !now.Before(e.expires)) {
			continue
		}
		left := t.timeout
		if e.conns == 0 {
			left = e.expires.Sub(now)
		}
		ps = append(ps, Pin{Client: k, Backend: e.be.name, Remaining: left})
	}
	return ps
}

// The sequence.

// cSession is one client connection: the listener's view (be, e, tried)
// and the model's (mb, me, mtried).
type cSession struct {
	id         int
	client     netip.Addr
	be         *backend
	e          *stickyEntry
	tried      []*backend
	mb         *mBackend
	me         *mEntry
	mtried     []*mBackend
	connecting bool
}

type choiceRun struct {
	rng      *rand.Rand
	l        *Listener
	clk      *clock.Fake
	m        *choiceModel
	sessions []*cSession
	nextID   int
	real     map[*backend]*mBackend
	trace    []string
	stats    choiceStats
}

type choiceResult struct {
	err   error
	trace []string
	stats choiceStats
}

var (
	choiceNames = []string{"a", "b", "c", "d", "e", "f"}
	choiceAddrs = []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.2:5672"), netip.MustParseAddrPort("127.0.0.3:5672"),
		netip.MustParseAddrPort("127.0.0.4:5672"), netip.MustParseAddrPort("[fd00::5]:5672"),
	}
	choiceStates = []rbackend.State{rbackend.Up, rbackend.Up, rbackend.Up, rbackend.Up, rbackend.Degraded, rbackend.Down, rbackend.Drain, rbackend.Maint}
)

func runChoiceSequence(seed uint64, steps int) (res choiceResult) {
	r := &choiceRun{rng: rand.New(rand.NewPCG(seed, 0x63686f696365)), real: map[*backend]*mBackend{}}
	r.stats.byPolicy = map[Policy]int{}
	defer func() {
		res.trace, res.stats = r.trace, r.stats
		if p := recover(); p != nil {
			res.err = fmt.Errorf("panic: %v", p)
		}
	}()
	cfg := r.randomConfig()
	reg := prometheus.NewPedanticRegistry()
	l, err := NewListener(cfg, nil, reg)
	if err != nil {
		return choiceResult{err: fmt.Errorf("creating listener: %w", err)}
	}
	r.l = l
	r.clk = clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l.clock = r.clk
	r.m = newChoiceModel(cfg.withDefaults(), r.clk.Now())
	r.logf("start: %s", describeConfig(cfg))
	if err := r.mapBackends(); err != nil {
		return choiceResult{err: err}
	}
	r.stats.seqs = 1
	for i := range steps {
		r.stats.steps++
		if err := r.step(i); err != nil {
			res.err = fmt.Errorf("step %d: %w", i, err)
			return res
		}
		if err := r.check(); err != nil {
			res.err = fmt.Errorf("step %d: %w", i, err)
			return res
		}
		if i%50 == 49 {
			if err := r.checkMetrics(reg); err != nil {
				res.err = fmt.Errorf("step %d: %w", i, err)
				return res
			}
		}
	}
	// End every session: nothing may be left counted.
	for len(r.sessions) > 0 {
		if err := r.end(r.sessions[0]); err != nil {
			res.err = fmt.Errorf("ending: %w", err)
			return res
		}
	}
	if err := r.check(); err != nil {
		res.err = fmt.Errorf("after the last session: %w", err)
		return res
	}
	if err := r.checkMetrics(reg); err != nil {
		res.err = fmt.Errorf("after the last session: %w", err)
		return res
	}
	for _, b := range r.real {
		if b.active != 0 {
			res.err = fmt.Errorf("after the last session: backend %s still counts %d", b.name, b.active)
		}
	}
	return res
}

func (r *choiceRun) logf(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf("%s %s", r.clk.Now().Format("15:04:05.000000000"), fmt.Sprintf(format, args...)))
}

func describeConfig(c Config) string {
	var bs []string
	for _, b := range c.Backends {
		bs = append(bs, fmt.Sprintf("%s@%s w=%d max=%d checked=%v backup=%v", b.Name, b.Address, b.Weight, b.MaxConn, b.Checked, b.Backup))
	}
	return fmt.Sprintf("policy=%s allbackups=%v persistence=%v/%d/%d max=%d retries=%d [%s]", c.Policy, c.AllBackups, c.PersistenceTimeout, c.PersistenceNetmask, c.PersistenceNetmask6, c.PersistenceMaxClients, c.Retries, strings.Join(bs, ", "))
}

func (r *choiceRun) randomBackend(name string) BackendConfig {
	bc := BackendConfig{Name: name, Address: choiceAddrs[r.rng.IntN(len(choiceAddrs))], Weight: 1 + r.rng.IntN(4)}
	switch r.rng.IntN(16) {
	case 0, 1:
		bc.Weight = 0
	case 2:
		bc.Weight = MaxWeight - r.rng.IntN(2)
	}
	if r.rng.IntN(3) == 0 {
		bc.MaxConn = 1 + r.rng.IntN(4)
	}
	bc.Checked = r.rng.IntN(5) == 0
	bc.Backup = r.rng.IntN(4) == 0
	return bc
}

func (r *choiceRun) randomPersistence(c *Config) {
	switch r.rng.IntN(4) {
	case 0:
		c.PersistenceTimeout = 0
	default:
		c.PersistenceTimeout = time.Duration(1+r.rng.IntN(10)) * time.Second
	}
	c.PersistenceNetmask = []int{0, 32, 24, 16, 31}[r.rng.IntN(5)]
	c.PersistenceNetmask6 = []int{0, 128, 64, 126}[r.rng.IntN(4)]
	c.PersistenceMaxClients = choiceMaxClients(r.rng)
}

// choiceMaxClients is a persistence bound: most often room for about
// every key the clients make, sometimes only for a few.
func choiceMaxClients(rng *rand.Rand) int {
	if rng.IntN(3) == 0 {
		return 1 + rng.IntN(6)
	}
	return 8 + rng.IntN(24)
}

func (r *choiceRun) randomConfig() Config {
	c := Config{
		Name: "choice", Bind: netip.MustParseAddrPort("127.0.0.1:0"),
		Policy:     []Policy{"", PolicyRoundRobin, PolicyWRR, PolicyLeastConn}[r.rng.IntN(4)],
		Retries:    r.rng.IntN(4),
		AllBackups: r.rng.IntN(2) == 0,
	}
	r.randomPersistence(&c)
	names := slices.Clone(choiceNames)
	r.rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for _, n := range names[:2+r.rng.IntN(3)] {
		c.Backends = append(c.Backends, r.randomBackend(n))
	}
	return c
}

// mapBackends checks that the listener's pool is the model's, object for
// object: a backend that stays (or comes back with its sessions) is the
// same object, a new one a new object.
func (r *choiceRun) mapBackends() error {
	r.l.mu.Lock()
	pool := slices.Clone(r.l.pool.backends)
	r.l.mu.Unlock()
	if len(pool) != len(r.m.pool) {
		return fmt.Errorf("listener has %d backends, model %d", len(pool), len(r.m.pool))
	}
	for i, mb := range r.m.pool {
		b := pool[i]
		if b.name != mb.name {
			return fmt.Errorf("backend %d is %s, model %s", i, b.name, mb.name)
		}
		switch {
		case mb.real == nil:
			if _, known := r.real[b]; known {
				return fmt.Errorf("backend %s is an earlier backend object, the model has a new one", b.name)
			}
			mb.real = b
			r.real[b] = mb
		case mb.real != b:
			return fmt.Errorf("backend %s is a new backend object, the model kept its object", b.name)
		}
	}
	return nil
}

func (r *choiceRun) randomClient() netip.Addr {
	switch r.rng.IntN(10) {
	case 0, 1:
		// Two /64s, four addresses in each: /126 groups them in pairs.
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 7: byte(r.rng.IntN(2)), 15: byte(1 + r.rng.IntN(4))})
	case 2:
		return netip.MustParseAddr("fe80::1%eth0").WithZone([]string{"eth0", "eth1"}[r.rng.IntN(2)])
	case 3:
		// v4-mapped: the same key as the IPv4 address.
		return netip.AddrFrom16(netip.AddrFrom4([4]byte{10, 0, byte(r.rng.IntN(2)), byte(1 + r.rng.IntN(6))}).As16())
	default:
		return netip.AddrFrom4([4]byte{10, byte(r.rng.IntN(2)), byte(r.rng.IntN(2)), byte(1 + r.rng.IntN(6))})
	}
}

func (r *choiceRun) step(i int) error {
	switch n := r.rng.IntN(100); {
	case n < 28:
		return r.connect()
	case n < 45:
		if s := r.pickSession(true); s != nil {
			return r.connectResult(s)
		}
		return r.connect()
	case n < 62:
		if s := r.pickSession(false); s != nil {
			return r.end(s)
		}
	case n < 72:
		r.advance()
	case n < 76:
		return r.sweep()
	case n < 83:
		return r.setState()
	case n < 90:
		return r.setWeight()
	case n < 92:
		return r.addPins()
	default:
		return r.reload()
	}
	return nil
}

func (r *choiceRun) pickSession(connecting bool) *cSession {
	var c []*cSession
	for _, s := range r.sessions {
		if !connecting || s.connecting {
			c = append(c, s)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[r.rng.IntN(len(c))]
}

func (r *choiceRun) connect() error {
	r.nextID++
	s := &cSession{id: r.nextID, client: r.randomClient()}
	r.sessions = append(r.sessions, s)
	r.logf("session %d from %s", s.id, s.client)
	return r.attempt(s)
}

// attempt is session.connectNext: a choice, unless the retries are used
// up; a session without a backend ends.
func (r *choiceRun) attempt(s *cSession) error {
	if len(s.tried) > r.m.cfg.Retries {
		r.logf("session %d: every attempt failed", s.id)
		return r.drop(s)
	}
	now := r.clk.Now()
	// What a choice must honour, from the model's state before it.
	before := map[*mBackend]bool{}
	for _, b := range r.m.pool {
		before[b] = b.usable() && !slices.Contains(s.mtried, b)
	}
	firstChoice := s.me == nil
	t, full := r.l.choose(s.client, &s.e, s.tried)
	mb, mfull, how := r.m.choose(s.client, &s.me, s.mtried, now, &r.stats)
	r.stats.choices++
	r.stats.byPolicy[r.m.policy]++
	got := "none"
	if t.be != nil {
		got = t.be.name
	}
	r.logf("session %d: choice %s (%s, full=%v)", s.id, got, how, full)
	if firstChoice && (s.e == nil) != (s.me == nil) {
		return fmt.Errorf("session %d: persistence entry taken %v, model %v", s.id, s.e != nil, s.me != nil)
	}
	if s.e != nil && (s.e == &noPin) != (s.me == mNoPin) {
		return fmt.Errorf("session %d: client %s left unpinned (table full) %v, model %v", s.id, s.client, s.e == &noPin, s.me == mNoPin)
	}
	if t.be == nil || mb == nil {
		if t.be != nil || mb != nil {
			return fmt.Errorf("session %d: chose %s, model %s", s.id, got, nameOf(mb))
		}
		if full != mfull {
			return fmt.Errorf("session %d: no backend, full=%v, model full=%v", s.id, full, mfull)
		}
		r.stats.none++
		if full {
			r.stats.full++
		}
		return r.drop(s)
	}
	if r.real[t.be] != mb {
		return fmt.Errorf("session %d from %s: chose %s, model %s (%s)", s.id, s.client, got, mb.name, how)
	}
	if !before[mb] {
		return fmt.Errorf("session %d: chose %s, which was not usable", s.id, got)
	}
	if full {
		return fmt.Errorf("session %d: chose %s and said full", s.id, got)
	}
	if t.addr != mb.addr {
		return fmt.Errorf("session %d: target address %s, model %s", s.id, t.addr, mb.addr)
	}
	if mb.maxConn > 0 && t.be.active > mb.maxConn {
		return fmt.Errorf("session %d: %s has %d sessions, maxconn %d", s.id, got, t.be.active, mb.maxConn)
	}
	if s.e != nil && s.e != &noPin && r.m.table != nil && s.me.table == r.m.table && r.real[s.e.be] != s.me.be {
		return fmt.Errorf("session %d: entry pinned to %s, model %s", s.id, s.e.be.name, nameOf(s.me.be))
	}
	ok, err := r.m.checkWindow()
	if err != nil {
		return err
	}
	if ok {
		r.stats.windows++
	}
	s.be, s.mb, s.connecting = t.be, mb, true
	return nil
}

func nameOf(b *mBackend) string {
	if b == nil {
		return "none"
	}
	return b.name
}

// drop ends a session that has no backend (session.close).
func (r *choiceRun) drop(s *cSession) error {
	r.l.sessionEnded(nil, s.e)
	r.m.release(s.me, r.clk.Now())
	r.sessions = slices.DeleteFunc(r.sessions, func(o *cSession) bool { return o == s })
	return nil
}

func (r *choiceRun) connectResult(s *cSession) error {
	switch n := r.rng.IntN(20); {
	case n < 12:
		r.logf("session %d: connected to %s", s.id, s.be.name)
		s.connecting = false
		return nil
	case n < 16:
		r.logf("session %d: connect to %s failed", s.id, s.be.name)
		r.stats.fails++
		r.l.attemptFailed(s.be, s.e)
		s.mb.active--
		if s.me != nil && s.me != mNoPin && s.me.be == s.mb {
			s.me.be = nil
		}
		s.tried, s.mtried = append(s.tried, s.be), append(s.mtried, s.mb)
	case n < 17:
		r.logf("session %d: no local port for %s", s.id, s.be.name)
		r.l.sessionEnded(s.be, nil)
		s.mb.active--
		s.tried, s.mtried = append(s.tried, s.be), append(s.mtried, s.mb)
	default:
		r.logf("session %d: redispatched from %s", s.id, s.be.name)
		r.stats.redispatches++
		r.l.sessionEnded(s.be, nil)
		s.mb.active--
	}
	s.be, s.mb = nil, nil
	return r.attempt(s)
}

func (r *choiceRun) end(s *cSession) error {
	r.logf("session %d ends (%s)", s.id, s.be.name)
	r.stats.ends++
	r.l.sessionEnded(s.be, s.e)
	s.mb.active--
	r.m.release(s.me, r.clk.Now())
	r.sessions = slices.DeleteFunc(r.sessions, func(o *cSession) bool { return o == s })
	return nil
}

// advance moves the clock: a little, a lot, or to, just before or just
// after the expiry of an idle entry.
func (r *choiceRun) advance() {
	now := r.clk.Now()
	var to time.Time
	var expiries []time.Time
	if t := r.m.table; t != nil {
		for _, e := range t.entries {
			if e.conns == 0 && e.expires.After(now) {
				expiries = append(expiries, e.expires)
			}
		}
	}
	switch n := r.rng.IntN(10); {
	case n < 5 && len(expiries) > 0:
		slices.SortFunc(expiries, time.Time.Compare)
		to = expiries[r.rng.IntN(len(expiries))].Add(time.Duration(r.rng.IntN(3)-1) * time.Nanosecond)
		if !to.After(now) {
			to = now
		}
		r.stats.advancesToExpiry++
	case n < 8:
		to = now.Add(time.Duration(r.rng.IntN(3000)) * time.Millisecond)
	default:
		to = now.Add(time.Duration(5+r.rng.IntN(20)) * time.Second)
	}
	r.clk.Set(to)
	r.logf("clock +%v", to.Sub(now))
}

// sweep is the sweep Run makes every sweepInterval.
func (r *choiceRun) sweep() error {
	r.l.mu.Lock()
	n := 0
	if r.l.sticky != nil {
		n = r.l.sticky.sweep(r.clk.Now())
	}
	r.l.mu.Unlock()
	want := 0
	if r.m.table != nil {
		want = r.m.table.sweep(r.clk.Now())
	}
	r.stats.sweeps++
	r.stats.expiries += want
	r.logf("sweep: %d expired", n)
	if n != want {
		return fmt.Errorf("sweep deleted %d entries, model %d", n, want)
	}
	return nil
}

func (r *choiceRun) randomName() string {
	if r.rng.IntN(12) == 0 {
		return choiceNames[r.rng.IntN(len(choiceNames))] // maybe not configured
	}
	return r.m.pool[r.rng.IntN(len(r.m.pool))].name
}

func (r *choiceRun) setState() error {
	name := r.randomName()
	st := choiceStates[r.rng.IntN(len(choiceStates))]
	err := r.l.SetBackendState(name, st, "test")
	r.logf("state %s -> %s: %v", name, st, err)
	b := r.m.byName(name)
	if b == nil {
		if !errors.Is(err, ErrUnknownBackend) {
			return fmt.Errorf("setting the state of %s, not a backend: %v, want ErrUnknownBackend", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("setting the state of %s: %w", name, err)
	}
	r.stats.states++
	r.m.setState(b, st)
	return nil
}

func (r *choiceRun) setWeight() error {
	name := r.randomName()
	b := r.m.byName(name)
	var err error
	var set func(*mBackend)
	switch n := r.rng.IntN(10); {
	case n < 4:
		w := r.rng.IntN(5)
		err = r.l.SetBackendWeight(name, w)
		r.logf("weight %s = %d: %v", name, w, err)
		set = func(b *mBackend) { b.weight, b.override = w, true }
	case n < 6:
		err = r.l.ResetBackendWeight(name)
		r.logf("weight %s reset: %v", name, err)
		set = func(b *mBackend) { b.weight, b.override = b.cfgWeight, false }
	default:
		p := []int{1, 10, 33, 50, 99, 100, 100}[r.rng.IntN(7)]
		err = r.l.SetBackendWeightPercent(name, p)
		r.logf("weight share %s = %d%%: %v", name, p, err)
		set = func(b *mBackend) { b.percent = p }
	}
	if b == nil {
		if !errors.Is(err, ErrUnknownBackend) {
			return fmt.Errorf("setting the weight of %s, not a backend: %v, want ErrUnknownBackend", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("setting the weight of %s: %w", name, err)
	}
	r.stats.weights++
	r.m.setWeight(b, set)
	return nil
}

// addPins hands the listener pins as a predecessor process would, some
// for keys it has, to backends it does not have, or already run out.
func (r *choiceRun) addPins() error {
	var pins []Pin
	for range 1 + r.rng.IntN(6) {
		p := Pin{Client: r.randomClient(), Backend: choiceNames[r.rng.IntN(len(choiceNames))],
			Remaining: time.Duration(r.rng.IntN(12000)-1000) * time.Millisecond}
		if r.rng.IntN(20) == 0 {
			p.Client = netip.Addr{}
		}
		pins = append(pins, p)
	}
	n := r.l.AddPins(pins)
	want := r.m.addPins(pins, r.clk.Now())
	r.logf("add pins %v: %d added", pins, n)
	if n != want {
		return fmt.Errorf("AddPins added %d, model %d", n, want)
	}
	r.stats.pinsAdded += n
	return nil
}

// reload applies the configuration with a few random changes, or none.
func (r *choiceRun) reload() error {
	c := r.m.cfg
	c.Backends = slices.Clone(c.Backends)
	for range r.rng.IntN(4) {
		switch r.rng.IntN(11) {
		case 0, 1: // add
			var free []string
			for _, n := range choiceNames {
				if !slices.ContainsFunc(c.Backends, func(b BackendConfig) bool { return b.Name == n }) {
					free = append(free, n)
				}
			}
			if len(free) > 0 {
				bc := r.randomBackend(free[r.rng.IntN(len(free))])
				c.Backends = slices.Insert(c.Backends, r.rng.IntN(len(c.Backends)+1), bc)
			}
		case 2, 3: // remove
			if len(c.Backends) > 1 {
				i := r.rng.IntN(len(c.Backends))
				c.Backends = slices.Delete(c.Backends, i, i+1)
			}
		case 4: // reweight
			i := r.rng.IntN(len(c.Backends))
			c.Backends[i].Weight = r.rng.IntN(5)
		case 5: // maxconn, address, checked, backup
			i := r.rng.IntN(len(c.Backends))
			switch r.rng.IntN(5) {
			case 0:
				c.Backends[i].MaxConn = r.rng.IntN(4)
			case 1:
				c.Backends[i].Address = choiceAddrs[r.rng.IntN(len(choiceAddrs))]
			case 2:
				c.Backends[i].Backup = !c.Backends[i].Backup
			case 3:
				c.AllBackups = !c.AllBackups
			default:
				c.Backends[i].Checked = !c.Backends[i].Checked
			}
		case 6: // order
			r.rng.Shuffle(len(c.Backends), func(i, j int) { c.Backends[i], c.Backends[j] = c.Backends[j], c.Backends[i] })
		case 7:
			c.Policy = []Policy{PolicyRoundRobin, PolicyWRR, PolicyLeastConn}[r.rng.IntN(3)]
		case 8, 9:
			switch r.rng.IntN(4) {
			case 0:
				r.randomPersistence(&c)
			case 1:
				c.PersistenceTimeout = time.Duration(r.rng.IntN(11)) * time.Second
			case 2:
				c.PersistenceMaxClients = choiceMaxClients(r.rng)
			default:
				c.PersistenceNetmask = []int{32, 24, 16}[r.rng.IntN(3)]
				c.PersistenceNetmask6 = []int{128, 64, 126}[r.rng.IntN(3)]
			}
		default:
			c.Retries = r.rng.IntN(4)
		}
	}
	if err := r.l.Apply(c); err != nil {
		return fmt.Errorf("applying %s: %w", describeConfig(c), err)
	}
	r.logf("reload: %s", describeConfig(c))
	r.stats.reloads++
	oldTable := r.m.table
	r.stats.keptBack += r.m.apply(c.withDefaults(), r.clk.Now())
	if r.m.table != oldTable && r.m.table != nil {
		r.stats.tableResets++
	}
	return r.mapBackends()
}

// check compares the listener's Snapshot and counts with the model.
func (r *choiceRun) check() error {
	s := r.l.SnapshotSticky(1 << 10)
	m := r.m
	if s.Policy != m.policy {
		return fmt.Errorf("policy %s, model %s", s.Policy, m.policy)
	}
	if len(s.Backends) != len(m.pool) {
		return fmt.Errorf("%d backends, model %d", len(s.Backends), len(m.pool))
	}
	for i, b := range s.Backends {
		mb := m.pool[i]
		want := BackendSnapshot{
			Name: mb.name, Address: mb.addr, State: mb.state, Weight: mb.weight, ConfiguredWeight: mb.cfgWeight,
			WeightOverride: mb.override, WeightPercent: mb.percent, MaxConn: mb.maxConn, Active: mb.active, Backup: mb.backup,
			Full: !mb.removed && mb.state.Serving() && mb.weight > 0 && mb.maxConn > 0 && mb.active >= mb.maxConn,
		}
		got := BackendSnapshot{
			Name: b.Name, Address: b.Address, State: b.State, Weight: b.Weight, ConfiguredWeight: b.ConfiguredWeight,
			WeightOverride: b.WeightOverride, WeightPercent: b.WeightPercent, MaxConn: b.MaxConn, Active: b.Active, Backup: b.Backup,
			Full: b.Full,
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("backend %d: %+v, model %+v", i, got, want)
		}
	}
	// Removed backends still counting sessions: listed by the snapshot,
	// by name and address.
	var wantRemoved, gotRemoved []string
	for _, b := range m.kept {
		if b.active > 0 {
			wantRemoved = append(wantRemoved, fmt.Sprintf("%s %s %d", b.name, b.addr, b.active))
		}
	}
	slices.Sort(wantRemoved)
	for _, b := range s.Removed {
		gotRemoved = append(gotRemoved, fmt.Sprintf("%s %s %d", b.Name, b.Address, b.Active))
	}
	// Two removed objects may share a name and an address (a backend
	// removed, configured again elsewhere, moved back and removed again).
	slices.Sort(gotRemoved)
	if !slices.Equal(gotRemoved, wantRemoved) {
		return fmt.Errorf("removed backends with sessions %q, model %q", gotRemoved, wantRemoved)
	}
	r.l.mu.Lock()
	for b, mb := range r.real {
		if b.active != mb.active || b.removed != mb.removed {
			r.l.mu.Unlock()
			return fmt.Errorf("backend object %s: %d sessions, removed %v; model %d, %v", b.name, b.active, b.removed, mb.active, mb.removed)
		}
	}
	r.l.mu.Unlock()
	if s.StickyFull != uint64(m.full) {
		return fmt.Errorf("%d clients unpinned for a full table, model %d", s.StickyFull, m.full)
	}
	t := m.table
	if t == nil {
		if s.StickyEntries != 0 || s.Sticky != nil {
			return fmt.Errorf("persistence off, %d entries", s.StickyEntries)
		}
		return nil
	}
	if s.StickyMax != t.max {
		return fmt.Errorf("persistence table bound %d, model %d", s.StickyMax, t.max)
	}
	if s.StickyEntries != len(t.entries) || len(s.Sticky) != len(t.entries) {
		return fmt.Errorf("%d persistence entries (%d listed), model %d", s.StickyEntries, len(s.Sticky), len(t.entries))
	}
	for _, e := range s.Sticky {
		me := t.entries[e.Client.Addr()]
		if me == nil {
			return fmt.Errorf("persistence entry %s not in the model", e.Client)
		}
		bits := t.bits6
		if me.key.Is4() {
			bits = t.bits
		}
		want := StickySnapshot{Client: netip.PrefixFrom(me.key, bits), Sessions: me.conns}
		if me.be != nil {
			want.Backend = me.be.name
		}
		if me.conns == 0 {
			want.Expires = me.expires
		}
		if e != want {
			return fmt.Errorf("persistence entry %+v, model %+v", e, want)
		}
	}
	byClient := func(a, b Pin) int { return a.Client.Compare(b.Client) }
	got, want := r.l.Pins(), m.pins(r.clk.Now())
	slices.SortFunc(got, byClient)
	slices.SortFunc(want, byClient)
	if !slices.Equal(got, want) {
		return fmt.Errorf("pins for a successor %v, model %v", got, want)
	}
	return nil
}

// checkMetrics compares the listener's metrics of choice with the model:
// persistence entries and clients left unpinned, and each backend's
// sessions, weight, share and whether it serves.
func (r *choiceRun) checkMetrics(g prometheus.Gatherer) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gathering metrics: %w", err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "backend" {
					name += "/" + lp.GetValue()
				}
			}
			switch {
			case m.Gauge != nil:
				got[name] = m.GetGauge().GetValue()
			case m.Counter != nil:
				got[name] = m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{"rmqlb_listener_persistence_full_total": float64(r.m.full)}
	if r.m.table != nil {
		want["rmqlb_listener_persistence_entries"] = float64(len(r.m.table.entries))
	} else {
		want["rmqlb_listener_persistence_entries"] = 0
	}
	for _, b := range r.m.pool {
		want["rmqlb_backend_active_connections/"+b.name] = float64(b.active)
		want["rmqlb_backend_weight/"+b.name] = float64(b.weight)
		want["rmqlb_backend_weight_ratio/"+b.name] = float64(b.percent) / 100
		want["rmqlb_backend_max_connections/"+b.name] = float64(b.maxConn)
		want["rmqlb_backend_backup/"+b.name] = 0
		if b.backup {
			want["rmqlb_backend_backup/"+b.name] = 1
		}
		up := 0.0
		if b.state.Serving() {
			up = 1
		}
		want["rmqlb_backend_up/"+b.name] = up
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			return fmt.Errorf("metric %s = %v (present %v), model %v", name, g, ok, v)
		}
	}
	for name := range got {
		if b, ok := strings.CutPrefix(name, "rmqlb_backend_active_connections/"); ok && r.m.byName(b) == nil {
			return fmt.Errorf("metric %s of a backend the listener does not have", name)
		}
	}
	return nil
}
