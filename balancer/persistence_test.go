package balancer

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

func stickyListener(t *testing.T, timeout time.Duration, netmask int, policy Policy) (*Listener, *clock.Fake) {
	t.Helper()
	cfg := Config{
		Name: "t", Bind: netip.MustParseAddrPort("127.0.0.1:0"), Policy: policy,
		PersistenceTimeout: timeout, PersistenceNetmask: netmask,
		ShutdownSessionsOnDown: true,
		Backends: []BackendConfig{
			{Name: "a", Address: netip.MustParseAddrPort("127.0.0.2:1"), Weight: 1},
			{Name: "b", Address: netip.MustParseAddrPort("127.0.0.3:1"), Weight: 1},
			{Name: "c", Address: netip.MustParseAddrPort("127.0.0.4:1"), Weight: 1},
		},
	}
	l, err := NewListener(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l.clock = clk
	return l, clk
}

// conn is a simulated session: one choice and its end.
type conn struct {
	be *backend
	e  *stickyEntry
}

func open(t *testing.T, l *Listener, client string) conn {
	t.Helper()
	var c conn
	tg, _ := l.choose(netip.MustParseAddr(client), &c.e, nil)
	if tg.be == nil {
		t.Fatalf("no backend for %s", client)
	}
	c.be = tg.be
	return c
}

func (c conn) close(l *Listener) { l.sessionEnded(c.be, c.e) }

func TestPersistenceSticks(t *testing.T) {
	l, _ := stickyListener(t, time.Minute, 32, PolicyRoundRobin)
	first := open(t, l, "10.0.0.1")
	for range 10 {
		c := open(t, l, "10.0.0.1")
		if c.be != first.be {
			t.Fatalf("client moved from %s to %s", first.be.name, c.be.name)
		}
		c.close(l)
	}
	other := open(t, l, "10.0.0.2")
	if other.be == first.be {
		t.Errorf("second client got the same backend %s; round robin should move on", other.be.name)
	}
}

func TestPersistenceNetmask(t *testing.T) {
	l, _ := stickyListener(t, time.Minute, 24, PolicyRoundRobin)
	a := open(t, l, "10.0.0.1")
	b := open(t, l, "10.0.0.200")
	if a.be != b.be {
		t.Errorf("same /24 went to %s and %s", a.be.name, b.be.name)
	}
	c := open(t, l, "10.0.1.1")
	if c.be == a.be {
		t.Errorf("other /24 stuck to %s too", c.be.name)
	}
}

// TestPersistenceNetmask6: persistence_netmask6 groups IPv6 clients by
// prefix (a client whose temporary addresses change within its /64 stays
// on one backend), its zone dropped, and leaves IPv4 clients to
// persistence_netmask; the snapshot names the entries by those prefixes.
// By default an IPv6 client sticks on its own.
func TestPersistenceNetmask6(t *testing.T) {
	l, _ := stickyListener(t, time.Minute, 24, PolicyRoundRobin)
	whole := open(t, l, "2001:db8:1:2::1")
	if other := open(t, l, "2001:db8:1:2::2"); other.be == whole.be {
		t.Errorf("by default a second address of the /64 stuck to %s too", other.be.name)
	}

	l, _ = stickyListener(t, time.Minute, 24, PolicyRoundRobin)
	cfg := l.cfg
	cfg.PersistenceNetmask6 = 64
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	a := open(t, l, "2001:db8:1:2::1")
	for _, same := range []string{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "fe80::1%eth0"} {
		if same == "fe80::1%eth0" {
			a = open(t, l, "fe80::2")
		}
		if c := open(t, l, same); c.be != a.be {
			t.Errorf("%s went to %s, the rest of its /64 to %s", same, c.be.name, a.be.name)
		}
	}
	if c := open(t, l, "2001:db8:1:3::1"); c.be == a.be {
		t.Errorf("another /64 stuck to %s too", c.be.name)
	}
	v4 := open(t, l, "10.0.0.1")
	if c := open(t, l, "10.0.0.200"); c.be != v4.be {
		t.Errorf("same IPv4 /24 went to %s and %s", v4.be.name, c.be.name)
	}
	var got []string
	for _, e := range l.SnapshotSticky(10).Sticky {
		got = append(got, e.Client.String())
	}
	want := []string{"10.0.0.0/24", "2001:db8:1:2::/64", "2001:db8:1:3::/64", "fe80::/64"}
	if !slices.Equal(got, want) {
		t.Errorf("sticky entries %v, want %v", got, want)
	}
}

func TestPersistenceExpires(t *testing.T) {
	l, clk := stickyListener(t, time.Minute, 32, PolicyRoundRobin)
	first := open(t, l, "10.0.0.1")
	// While it has a connection, the entry lives however long it lasts.
	clk.Advance(time.Hour)
	if c := open(t, l, "10.0.0.1"); c.be != first.be {
		t.Fatalf("pin lost while a connection was open")
	} else {
		c.close(l)
	}
	first.close(l)
	// Within the timeout after the last connection: still pinned.
	clk.Advance(59 * time.Second)
	c := open(t, l, "10.0.0.1")
	if c.be != first.be {
		t.Fatalf("pin lost within the timeout")
	}
	c.close(l)
	// Move round robin on so a fresh pick would differ.
	open(t, l, "10.0.0.9")
	clk.Advance(61 * time.Second)
	c = open(t, l, "10.0.0.1")
	if c.be == first.be {
		t.Errorf("pin to %s survived the timeout", first.be.name)
	}
	c.close(l)
	clk.Advance(2 * time.Minute)
	l.mu.Lock()
	l.sticky.sweep(clk.Now())
	l.mu.Unlock()
	if n := l.stickyCount(); n != 1 { // 10.0.0.9 still has its connection
		t.Errorf("%d entries after sweep, want 1", n)
	}
}

func TestPersistenceRepinsAfterDown(t *testing.T) {
	l, _ := stickyListener(t, time.Minute, 32, PolicyWRR)
	first := open(t, l, "10.0.0.1")
	if err := l.SetBackendState(first.be.name, rbackend.Down, "test"); err != nil {
		t.Fatal(err)
	}
	second := open(t, l, "10.0.0.1")
	if second.be == first.be {
		t.Fatalf("client still sent to down backend %s", first.be.name)
	}
	if err := l.SetBackendState(first.be.name, rbackend.Up, "test"); err != nil {
		t.Fatal(err)
	}
	// The client now sticks to its new backend, not the old one.
	for range 5 {
		if c := open(t, l, "10.0.0.1"); c.be != second.be {
			t.Fatalf("after re-pin, client went to %s, want %s", c.be.name, second.be.name)
		}
	}
}

func TestPersistenceWeightZeroRepins(t *testing.T) {
	l, _ := stickyListener(t, time.Minute, 32, PolicyRoundRobin)
	first := open(t, l, "10.0.0.1")
	if err := l.SetBackendWeight(first.be.name, 0); err != nil {
		t.Fatal(err)
	}
	if c := open(t, l, "10.0.0.1"); c.be == first.be {
		t.Errorf("new connection went to weight-0 backend %s", first.be.name)
	}
}

func TestPersistenceRedispatchSkipsTried(t *testing.T) {
	l, _ := stickyListener(t, time.Minute, 32, PolicyRoundRobin)
	var e *stickyEntry
	client := netip.MustParseAddr("10.0.0.1")
	t1, _ := l.choose(client, &e, nil)
	l.attemptFailed(t1.be, e)
	t2, _ := l.choose(client, &e, []*backend{t1.be})
	if t2.be == nil || t2.be == t1.be {
		t.Fatalf("retry got %v, want a backend other than %s", t2.be, t1.be.name)
	}
	if e.be != t2.be {
		t.Errorf("entry pinned to %v, want the backend that was used (%s)", e.be, t2.be.name)
	}
	if e.conns != 1 {
		t.Errorf("entry counts %d sessions, want 1", e.conns)
	}
}

// TestPinsHandedOver: a successor's listener given the predecessor's pins
// sends each client to the same backend, for as long as the pin had left;
// an entry with sessions gets the whole timeout.
func TestPinsHandedOver(t *testing.T) {
	old, oclk := stickyListener(t, time.Minute, 24, PolicyRoundRobin)
	busy := open(t, old, "10.0.1.7")  // a session still open
	idle := open(t, old, "10.0.2.7")  // ended 20 s ago
	other := open(t, old, "10.0.3.7") // ended 2 min ago: expired
	other.close(old)
	oclk.Advance(100 * time.Second)
	idle.close(old)
	oclk.Advance(20 * time.Second)
	pins := old.Pins()
	byClient := map[netip.Addr]Pin{}
	for _, p := range pins {
		byClient[p.Client] = p
	}
	if len(pins) != 2 {
		t.Fatalf("pins %+v, want the busy and the idle entry", pins)
	}
	if p := byClient[netip.MustParseAddr("10.0.1.0")]; p.Backend != busy.be.name || p.Remaining != time.Minute {
		t.Errorf("busy pin %+v", p)
	}
	if p := byClient[netip.MustParseAddr("10.0.2.0")]; p.Backend != idle.be.name || p.Remaining != 40*time.Second {
		t.Errorf("idle pin %+v", p)
	}

	succ, sclk := stickyListener(t, time.Minute, 24, PolicyRoundRobin)
	pins = append(pins, Pin{Client: netip.MustParseAddr("10.0.9.1"), Backend: "gone", Remaining: time.Minute})
	if n := succ.AddPins(pins); n != 2 {
		t.Fatalf("AddPins added %d, want 2", n)
	}
	for range 3 { // round robin would move them; the pins hold
		if c := open(t, succ, "10.0.1.99"); c.be.name != busy.be.name {
			t.Errorf("busy client went to %s, want %s", c.be.name, busy.be.name)
		} else {
			c.close(succ)
		}
	}
	idleKey := netip.MustParseAddr("10.0.2.0")
	sclk.Advance(39 * time.Second)
	if e := succ.sticky.m[idleKey]; e == nil || !e.live(sclk.Now()) {
		t.Error("idle pin gone before its time")
	}
	sclk.Advance(2 * time.Second)
	if e := succ.sticky.m[idleKey]; e == nil || e.live(sclk.Now()) {
		t.Error("idle pin still live after its time")
	}
	off, _ := stickyListener(t, 0, 32, PolicyRoundRobin)
	if n := off.AddPins(pins); n != 0 || off.Pins() != nil {
		t.Errorf("persistence off: added %d, pins %v", n, off.Pins())
	}
}

// checkIdle verifies the idle list of t: exactly the entries without
// sessions, each once, in the order of expiry. It returns their keys in
// that order.
func checkIdle(t *testing.T, st *stickyTable) []string {
	t.Helper()
	var keys []string
	var prev *stickyEntry
	for e := st.idle.head; e != nil; prev, e = e, e.next {
		if e.prev != prev {
			t.Fatalf("idle list broken at %s", e.key)
		}
		if e.conns != 0 || st.m[e.key] != e {
			t.Fatalf("idle list holds %s with %d sessions, in the table: %v", e.key, e.conns, st.m[e.key] == e)
		}
		if prev != nil && e.expires.Before(prev.expires) {
			t.Fatalf("idle list out of order: %s expires %v before %s at %v", e.key, e.expires, prev.key, prev.expires)
		}
		keys = append(keys, e.key.String())
	}
	if st.idle.tail != prev {
		t.Fatal("idle list tail is not its last entry")
	}
	idle := 0
	for _, e := range st.m {
		if e.conns == 0 {
			idle++
		}
	}
	if idle != len(keys) {
		t.Fatalf("%d entries without sessions, %d on the idle list", idle, len(keys))
	}
	return keys
}

// TestPersistenceIdleList: entries without sessions are listed in the
// order they expire; one that gets a session again leaves the list and
// goes to its back when its last session ends; a sweep deletes exactly
// the expired ones; a lowered timeout (reload) and pins handed over keep
// the order.
func TestPersistenceIdleList(t *testing.T) {
	l, clk := stickyListener(t, time.Minute, 32, PolicyRoundRobin)
	a, b, c := open(t, l, "10.0.0.1"), open(t, l, "10.0.0.2"), open(t, l, "10.0.0.3")
	a.close(l)
	clk.Advance(10 * time.Second)
	b.close(l)
	clk.Advance(10 * time.Second)
	c.close(l)
	if got := checkIdle(t, l.sticky); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
		t.Fatalf("idle list %v", got)
	}
	a = open(t, l, "10.0.0.1") // back: it leaves the list
	if got := checkIdle(t, l.sticky); !slices.Equal(got, []string{"10.0.0.2", "10.0.0.3"}) {
		t.Fatalf("idle list with 10.0.0.1 in use %v", got)
	}
	clk.Advance(55 * time.Second) // 10.0.0.2 expired (at 70s), 10.0.0.3 not (at 80s)
	a.close(l)
	l.mu.Lock()
	n := l.sticky.sweep(clk.Now())
	l.mu.Unlock()
	if got := checkIdle(t, l.sticky); n != 1 || !slices.Equal(got, []string{"10.0.0.3", "10.0.0.1"}) {
		t.Fatalf("sweep deleted %d; idle list %v, want 10.0.0.2 gone, 10.0.0.1 at the back", n, got)
	}

	// A reload lowering the timeout: every idle entry expires within the
	// new one, still in order.
	cfg := l.cfg
	cfg.PersistenceTimeout = 10 * time.Second
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	d := open(t, l, "10.0.0.4")
	d.close(l)
	checkIdle(t, l.sticky)
	for e := l.sticky.idle.head; e != nil; e = e.next {
		if e.expires.After(clk.Now().Add(10 * time.Second)) {
			t.Errorf("%s expires at %v, after the lowered timeout", e.key, e.expires)
		}
	}
	clk.Advance(10 * time.Second)
	l.mu.Lock()
	n = l.sticky.sweep(clk.Now())
	l.mu.Unlock()
	if n != 3 || l.stickyCount() != 0 {
		t.Errorf("sweep after the lowered timeout deleted %d, %d entries left; want all 3 gone", n, l.stickyCount())
	}

	// Pins handed over merge into the list by expiry.
	e := open(t, l, "10.0.0.5")
	clk.Advance(5 * time.Second)
	e.close(l) // expires in 10s
	l.AddPins([]Pin{
		{Client: netip.MustParseAddr("10.0.1.1"), Backend: "a", Remaining: 12 * time.Second}, // beyond the timeout: 10s
		{Client: netip.MustParseAddr("10.0.1.2"), Backend: "b", Remaining: 3 * time.Second},
		{Client: netip.MustParseAddr("10.0.1.3"), Backend: "c", Remaining: 7 * time.Second},
	})
	if got := checkIdle(t, l.sticky); !slices.Equal(got, []string{"10.0.1.2", "10.0.1.3", "10.0.0.5", "10.0.1.1"}) {
		t.Errorf("idle list after AddPins %v", got)
	}
}

// TestPersistenceTableReplaced: a reload that changes the netmask starts
// a new table; the sessions of the old one end without touching it.
func TestPersistenceTableReplaced(t *testing.T) {
	l, _ := stickyListener(t, time.Minute, 32, PolicyRoundRobin)
	old := open(t, l, "10.0.0.1")
	cfg := l.cfg
	cfg.PersistenceNetmask = 24
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	fresh := open(t, l, "10.0.0.1")
	fresh.close(l)
	old.close(l)
	if got := checkIdle(t, l.sticky); !slices.Equal(got, []string{"10.0.0.0"}) {
		t.Errorf("idle list of the new table %v, want only its own entry", got)
	}
	// So does one that changes the IPv6 netmask.
	old = open(t, l, "2001:db8::1")
	cfg.PersistenceNetmask6 = 64
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if n := l.stickyCount(); n != 0 {
		t.Errorf("%d entries after the IPv6 netmask changed, want a new table", n)
	}
	old.close(l)
}

// TestPersistenceSweepCost: a sweep looks at the entries that expire, not
// at the whole table, so that it holds the listener's lock, which every
// event loop needs to accept and close sessions, for as long as they take
// to delete. A table of live entries is swept many times in far less time
// than walking it once per sweep would take.
func TestPersistenceSweepCost(t *testing.T) {
	l, clk := stickyListener(t, time.Hour, 32, PolicyRoundRobin)
	const entries, sweeps = 50_000, 200
	for i := range entries {
		c := open(t, l, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String())
		c.close(l)
	}
	start := time.Now()
	l.mu.Lock()
	for range sweeps {
		l.sticky.sweep(clk.Now().Add(time.Minute))
	}
	l.mu.Unlock()
	// Walking 50,000 entries takes about a millisecond: 200 walks take
	// 200 ms and more; 200 looks at the front of a list, microseconds.
	d := time.Since(start)
	if d > 50*time.Millisecond {
		t.Errorf("%d sweeps of a table of %d live entries took %v", sweeps, entries, d)
	}
	if n := l.stickyCount(); n != entries {
		t.Errorf("%d entries after the sweeps, want %d", n, entries)
	}
}

// TestPersistenceMaxClients: the table pins at most
// PersistenceMaxClients client keys; a new one beyond is balanced without
// being pinned, counted and logged at most every 10 s, and no pin is
// evicted for it. Expired entries make room. A reload lowering the bound
// keeps the table.
func TestPersistenceMaxClients(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	reg := prometheus.NewPedanticRegistry()
	cfg := Config{
		Name: "t", Bind: netip.MustParseAddrPort("127.0.0.1:0"), Policy: PolicyRoundRobin,
		PersistenceTimeout: time.Minute, PersistenceMaxClients: 2,
		Backends: []BackendConfig{
			{Name: "a", Address: netip.MustParseAddrPort("127.0.0.2:1"), Weight: 1},
			{Name: "b", Address: netip.MustParseAddrPort("127.0.0.3:1"), Weight: 1},
		},
	}
	l, err := NewListener(cfg, zap.New(core), reg)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	l.clock = clk
	p1, p2 := open(t, l, "10.0.0.1"), open(t, l, "10.0.0.2")
	p2.close(l) // idle, still pinned
	// A third client: balanced, not pinned; the two pins stay.
	var seen []string
	for range 4 {
		c := open(t, l, "10.0.0.3")
		if c.e != &noPin {
			t.Fatalf("third client got an entry %+v beyond the bound", c.e)
		}
		seen = append(seen, c.be.name)
		c.close(l)
	}
	if !slices.Contains(seen, "a") || !slices.Contains(seen, "b") {
		t.Errorf("unpinned client went to %v, want it balanced over both", seen)
	}
	if c := open(t, l, "10.0.0.2"); c.be != p2.be {
		t.Errorf("idle pin of 10.0.0.2 lost to a client beyond the bound")
	} else {
		c.close(l)
	}
	s := l.Snapshot()
	if s.StickyEntries != 2 || s.StickyMax != 2 || s.StickyFull != 4 {
		t.Errorf("snapshot: %d entries of %d, %d not pinned; want 2 of 2, 4", s.StickyEntries, s.StickyMax, s.StickyFull)
	}
	if v := metricstest.Value(t, metricstest.Gather(t, reg), "rmqlb_listener_persistence_full_total", map[string]string{"listener": "t"}); v != 4 {
		t.Errorf("rmqlb_listener_persistence_full_total = %v, want 4", v)
	}
	// Logged once for the first, then not before 10 s have passed.
	if n := logs.FilterMessageSnippet("persistence table full").Len(); n != 1 {
		t.Errorf("%d warnings for 4 clients within 10s, want 1", n)
	}
	clk.Advance(10 * time.Second)
	open(t, l, "10.0.0.4").close(l)
	if got := logs.FilterMessageSnippet("persistence table full").All(); len(got) != 2 || got[1].ContextMap()["clients"] != int64(4) {
		t.Errorf("warnings after 10s: %v, want a second one for the 4 clients since the first", got)
	}

	// A lowered bound keeps the entries above it; they leave as they
	// expire, and then the table takes new clients again up to the bound.
	cfg.PersistenceMaxClients = 1
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if n := l.stickyCount(); n != 2 {
		t.Fatalf("%d entries after lowering the bound to 1, want both kept", n)
	}
	if c := open(t, l, "10.0.0.1"); c.be != p1.be {
		t.Errorf("pin of 10.0.0.1 lost when the bound was lowered")
	} else {
		c.close(l)
	}
	p1.close(l)
	clk.Advance(time.Minute) // both expired
	if c := open(t, l, "10.0.0.5"); c.e == &noPin {
		t.Errorf("new client not pinned once the entries expired")
	}
	if n := l.stickyCount(); n != 1 {
		t.Errorf("%d entries, want the new one only", n)
	}
}

// TestPersistenceUnpinsFailedBackend: with no retry and no health check,
// a client pinned to a broker that refuses connections is not sent there
// for ever: the failed connect unpins it, and its next connection goes to
// another backend.
func TestPersistenceUnpinsFailedBackend(t *testing.T) {
	live := newServer(t, "127.0.0.3", echo)
	cfg := baseConfig([]BackendConfig{
		{Name: "dead", Address: unusedAddr(t, "127.0.0.2"), Weight: 1},
		{Name: "live", Address: live.addr, Weight: 1},
	})
	cfg.Retries = 0
	cfg.PersistenceTimeout = time.Minute
	r := startListener(t, cfg, 1)
	// The first client goes to dead (round robin starts there) and fails.
	if err := waitClosed(r.dial(t), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "first session to end", func() bool { return r.Snapshot().Active == 0 })
	for i := range 3 {
		c := r.dial(t)
		if _, err := roundTrip(c, []byte("ping")); err != nil {
			t.Fatalf("connection %d after the failed one: %v (still pinned to the dead backend?)", i, err)
		}
		c.Close()
	}
	if f := backendSnap(r.Snapshot(), "dead").ConnectFailures; f != 1 {
		t.Errorf("%d connect failures on the dead backend, want 1", f)
	}
}
