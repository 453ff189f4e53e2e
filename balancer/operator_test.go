package balancer

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestWeightOverride: an operator's weight replaces the configured one
// until it is reset or Apply changes that backend; an Apply that leaves the
// backend as it was keeps it.
func TestWeightOverride(t *testing.T) {
	cfg := baseConfig([]BackendConfig{
		{Name: "a", Address: netip.MustParseAddrPort("127.0.0.2:1"), Weight: 10},
		{Name: "b", Address: netip.MustParseAddrPort("127.0.0.3:1"), Weight: 10},
	})
	cfg.Policy = PolicyWRR
	l, err := NewListener(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := func(step string, weight, configured int, override bool) {
		t.Helper()
		b := backendSnap(l.Snapshot(), "a")
		if b.Weight != weight || b.ConfiguredWeight != configured || b.WeightOverride != override {
			t.Fatalf("%s: weight %d configured %d override %v, want %d %d %v",
				step, b.Weight, b.ConfiguredWeight, b.WeightOverride, weight, configured, override)
		}
	}
	want("configured", 10, 10, false)
	if err := l.SetBackendWeight("a", 30); err != nil {
		t.Fatal(err)
	}
	want("override", 30, 10, true)
	var e *stickyEntry
	got := map[string]int{}
	for range 40 {
		tg, _ := l.choose(netip.MustParseAddr("10.0.0.1"), &e, nil)
		got[tg.be.name]++
		l.sessionEnded(tg.be, nil)
	}
	if got["a"] != 30 || got["b"] != 10 {
		t.Errorf("wrr with a at 30 and b at 10 over 40 picks: %v", got)
	}

	// A reload that leaves a as it was (b changes) keeps the override.
	cfg.Backends = []BackendConfig{cfg.Backends[0], cfg.Backends[1]}
	cfg.Backends[1].Weight = 5
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	want("apply without a change of a", 30, 10, true)
	if b := backendSnap(l.Snapshot(), "b"); b.Weight != 5 || b.WeightOverride {
		t.Errorf("b after apply: %+v", b)
	}

	// Reset: the configured weight again.
	if err := l.ResetBackendWeight("a"); err != nil {
		t.Fatal(err)
	}
	want("reset", 10, 10, false)

	// A reload that changes a (its maxconn alone) drops the override.
	if err := l.SetBackendWeight("a", 0); err != nil {
		t.Fatal(err)
	}
	want("override 0", 0, 10, true)
	cfg.Backends[0].MaxConn = 100
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	want("apply with a changed", 10, 10, false)

	// And one that changes a's weight: the file's new weight.
	l.SetBackendWeight("a", 3)
	cfg.Backends[0].Weight = 7
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	want("apply with a's weight changed", 7, 7, false)

	for _, err := range []error{l.SetBackendWeight("nope", 1), l.ResetBackendWeight("nope")} {
		if !errors.Is(err, ErrUnknownBackend) {
			t.Errorf("unknown backend: %v, want ErrUnknownBackend", err)
		}
	}
	if err := l.SetBackendWeight("a", MaxWeight+1); err == nil {
		t.Error("weight above MaxWeight accepted")
	}
}

// TestShutdownSessions: the sessions of one backend are closed now, the
// others' are not, and the backend still takes new clients.
func TestShutdownSessions(t *testing.T) {
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	r := startListener(t, baseConfig(backendsOf(a, b)), 2)
	if n, err := r.ShutdownSessions("a"); err != nil || n != 0 {
		t.Fatalf("no sessions: %d, %v", n, err)
	}
	var conns []*net.TCPConn
	for i := range 6 { // round robin: a, b, a, b, a, b
		c := r.dial(t)
		if _, err := roundTrip(c, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if s := backendSnap(r.Snapshot(), "a"); s.Active != 3 {
		t.Fatalf("a has %d sessions, want 3", s.Active)
	}
	n, err := r.ShutdownSessions("a")
	if err != nil || n != 3 {
		t.Fatalf("ShutdownSessions(a) = %d, %v; want 3", n, err)
	}
	for i, c := range conns {
		if i%2 == 0 {
			if err := waitClosed(c, 5*time.Second); err != nil {
				t.Errorf("session %d on a: %v", i, err)
			}
		} else if _, err := roundTrip(c, []byte("still")); err != nil {
			t.Errorf("session %d on b: %v", i, err)
		}
	}
	if s := backendSnap(r.Snapshot(), "a"); s.Active != 0 || s.State.String() != "UP" || s.ConnectFailures != 0 {
		t.Errorf("a after shutdown: %+v", s)
	}
	// a still takes clients.
	before := a.accepts.Load()
	for range 2 {
		c := r.dial(t)
		if _, err := roundTrip(c, []byte("new")); err != nil {
			t.Fatal(err)
		}
	}
	if a.accepts.Load() != before+1 {
		t.Errorf("a accepted %d new clients of 2, want 1", a.accepts.Load()-before)
	}
	if _, err := r.ShutdownSessions("nope"); !errors.Is(err, ErrUnknownBackend) {
		t.Errorf("unknown backend: %v", err)
	}
}

// TestShutdownSessionsConnecting: a client whose connection to the
// backend is still being set up is closed too, not sent elsewhere.
func TestShutdownSessionsConnecting(t *testing.T) {
	black := blackhole(t)
	other := newServer(t, "127.0.0.3", echo)
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: black, Weight: 1}, {Name: "b", Address: other.addr, Weight: 1}})
	cfg.ConnectTimeout = time.Minute
	r := startListener(t, cfg, 1)
	c := r.dial(t)
	eventually(t, 5*time.Second, "a connecting", func() bool { return backendSnap(r.Snapshot(), "a").Active == 1 })
	n, err := r.ShutdownSessions("a")
	if err != nil || n != 1 {
		t.Fatalf("ShutdownSessions(a) = %d, %v; want 1", n, err)
	}
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatalf("connecting client: %v", err)
	}
	if other.accepts.Load() != 0 {
		t.Errorf("the client was sent to b")
	}
	if s := backendSnap(r.Snapshot(), "a"); s.Active != 0 || s.ConnectFailures != 0 {
		t.Errorf("a after shutdown: active %d, connect failures %d", s.Active, s.ConnectFailures)
	}
}

// TestStickyList: SnapshotSticky lists the first entries by client, with
// the netmask's prefix, the pinned backend, the session count and the
// expiry once the last session ended; Snapshot lists none.
func TestStickyList(t *testing.T) {
	l, clk := stickyListener(t, time.Minute, 24, PolicyRoundRobin)
	held := open(t, l, "10.0.3.7")
	for _, c := range []string{"10.0.9.1", "10.0.1.200", "10.0.5.5", "10.0.1.9"} {
		open(t, l, c).close(l)
	}
	s := l.SnapshotSticky(3)
	if s.StickyEntries != 4 || len(s.Sticky) != 3 {
		t.Fatalf("%d entries, %d listed; want 4 entries (10.0.1.0/24 twice), 3 listed: %+v", s.StickyEntries, len(s.Sticky), s.Sticky)
	}
	var clients []string
	for _, e := range s.Sticky {
		clients = append(clients, e.Client.String())
	}
	if got := strings.Join(clients, " "); got != "10.0.1.0/24 10.0.3.0/24 10.0.5.0/24" {
		t.Errorf("listed clients %q", got)
	}
	e := s.Sticky[1]
	if e.Backend != held.be.name || e.Sessions != 1 || !e.Expires.IsZero() {
		t.Errorf("entry with a session: %+v", e)
	}
	e = s.Sticky[0]
	if e.Backend == "" || e.Sessions != 0 || !e.Expires.Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("entry without sessions: %+v (now %v)", e, clk.Now())
	}
	if got := len(l.SnapshotSticky(100).Sticky); got != 4 {
		t.Errorf("limit 100 listed %d of 4", got)
	}
	if got := l.Snapshot().Sticky; got != nil {
		t.Errorf("Snapshot listed entries: %+v", got)
	}
}

// TestApplyReaddedBackendKeepsSessions: a backend removed by a reload that
// keeps its sessions, then configured again with the same name and
// address, comes back with those sessions: its maxconn counts them, and
// once they end it takes new ones again.
func TestApplyReaddedBackendKeepsSessions(t *testing.T) {
	a := BackendConfig{Name: "a", Address: netip.MustParseAddrPort("127.0.0.2:1"), Weight: 1, MaxConn: 1}
	b := BackendConfig{Name: "b", Address: netip.MustParseAddrPort("127.0.0.3:1"), Weight: 1}
	cfg := baseConfig([]BackendConfig{a, b})
	cfg.ShutdownSessionsOnDown = false
	l, err := NewListener(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var e *stickyEntry
	client := netip.MustParseAddr("10.0.0.1")
	old, _ := l.choose(client, &e, nil)
	if old.be.name != "a" {
		t.Fatalf("first pick %s, want a", old.be.name)
	}
	cfg.Backends = []BackendConfig{b}
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Backends = []BackendConfig{a, b}
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if n := backendSnap(l.Snapshot(), "a").Active; n != 1 {
		t.Errorf("re-added a counts %d sessions, want its 1 kept one", n)
	}
	for range 3 {
		tg, _ := l.choose(client, &e, nil)
		if tg.be.name != "b" {
			t.Fatalf("new client sent to %s beyond a's maxconn of 1", tg.be.name)
		}
		l.sessionEnded(tg.be, nil)
	}
	l.sessionEnded(old.be, nil) // the kept session ends
	if n := backendSnap(l.Snapshot(), "a").Active; n != 0 {
		t.Errorf("a counts %d sessions after its last ended, want 0", n)
	}
	if tg, _ := l.choose(client, &e, nil); tg.be.name != "a" {
		t.Errorf("with a free again, the next client went to %s, want a", tg.be.name)
	}

	// At another address it is another broker: a new backend.
	tg, _ := l.choose(client, &e, nil) // b
	l.sessionEnded(tg.be, nil)
	cfg.Backends = []BackendConfig{b}
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	a.Address = netip.MustParseAddrPort("127.0.0.4:1")
	cfg.Backends = []BackendConfig{a, b}
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if n := backendSnap(l.Snapshot(), "a").Active; n != 0 {
		t.Errorf("a at a new address counts %d sessions of the old one, want 0", n)
	}
}
