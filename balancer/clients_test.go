package balancer

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestClientTable: sessions count per client address (an IPv4-mapped
// address as its IPv4 one, a zone as none), a client at the limit is
// refused without being counted, an ended session makes room, and the
// summary lists the busiest clients, most first and then by address.
func TestClientTable(t *testing.T) {
	a := netip.MustParseAddr
	tb := newClientTable()
	steps := []struct {
		op     string // "add" or "done"
		addr   string
		limit  int64
		held   int64
		wantOK bool
	}{
		{"add", "10.0.0.1", 2, 1, true},
		{"add", "::ffff:10.0.0.1", 2, 2, true},
		{"add", "10.0.0.1", 2, 2, false}, // at the limit
		{"add", "10.0.0.1", 0, 3, true},  // no limit
		{"add", "10.0.0.2", 2, 1, true},
		{"add", "fe80::1%eth0", 1, 1, true},
		{"add", "fe80::1%eth1", 1, 1, false}, // the same client
		{"done", "10.0.0.1", 0, 0, false},
		{"add", "10.0.0.1", 3, 3, true},
		{"done", "fe80::1", 0, 0, false},
		{"done", "fe80::1", 0, 0, false}, // not counted: nothing to give back
	}
	for i, s := range steps {
		switch s.op {
		case "add":
			held, ok := tb.add(a(s.addr), s.limit)
			if held != s.held || ok != s.wantOK {
				t.Fatalf("step %d: add %s limit %d = %d, %v; want %d, %v", i, s.addr, s.limit, held, ok, s.held, s.wantOK)
			}
		case "done":
			tb.done(a(s.addr))
		}
	}
	// 10.0.0.1 holds 3, 10.0.0.2 holds 1, fe80::1 none.
	s := tb.summary(5, 3, nil)
	want := []ClientSnapshot{{Address: a("10.0.0.1"), Sessions: 3}, {Address: a("10.0.0.2"), Sessions: 1}}
	if s.clients != 2 || s.atLimit != 1 || !slices.Equal(s.busiest, want) {
		t.Fatalf("summary = %d clients, %d at limit, %v; want 2, 1, %v", s.clients, s.atLimit, s.busiest, want)
	}
	for _, c := range []string{"10.0.0.9", "10.0.0.3", "10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		tb.add(a(c), 0)
	}
	// 10.0.0.1: 3, 10.0.0.2: 2, 10.0.0.3: 2, 10.0.0.4: 1, 10.0.0.9: 1.
	s = tb.summary(3, 2, nil)
	want = []ClientSnapshot{{Address: a("10.0.0.1"), Sessions: 3}, {Address: a("10.0.0.2"), Sessions: 2}, {Address: a("10.0.0.3"), Sessions: 2}}
	if s.clients != 5 || s.atLimit != 3 || !slices.Equal(s.busiest, want) {
		t.Fatalf("summary = %d clients, %d at limit, %v; want 5, 3, %v", s.clients, s.atLimit, s.busiest, want)
	}
	if s = tb.summary(3, 0, nil); s.atLimit != 0 {
		t.Errorf("no limit: %d at it, want 0", s.atLimit)
	}
	// Outside lists: the clients they refuse, and their sessions.
	pfx := netip.MustParsePrefix
	for _, c := range []struct {
		allowed, denied   []netip.Prefix
		clients, sessions int
	}{
		{nil, nil, 0, 0},
		{[]netip.Prefix{pfx("10.0.0.0/30")}, nil, 2, 2},                                // .4 and .9
		{nil, []netip.Prefix{pfx("10.0.0.1/32")}, 1, 3},                                // denied
		{[]netip.Prefix{pfx("10.0.0.0/24")}, []netip.Prefix{pfx("10.0.0.2/31")}, 2, 4}, // .2 and .3 denied
		{[]netip.Prefix{pfx("192.0.2.0/24")}, nil, 5, 9},
	} {
		if clients, sessions := tb.outside(newClientLists(c.allowed, c.denied)); clients != c.clients || sessions != int64(c.sessions) {
			t.Errorf("outside allowed %v, denied %v: %d clients with %d sessions, want %d with %d", c.allowed, c.denied, clients, sessions, c.clients, c.sessions)
		}
	}
}

// TestMaxConnPerClient: a client address at its maxconn_per_client has
// its new connections closed at once, counted and logged with its
// address, while another address is served; one of its sessions ending
// makes room again; a reload that lowers the limit keeps the sessions
// above it and refuses the next; 0 lifts it.
func TestMaxConnPerClient(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.MaxConnPerClient = 2
	cfg.LogSessions = true
	core, logs := observer.New(zapcore.InfoLevel)
	r := startListener(t, cfg, 2, func(l *Listener) { l.log = zap.New(core) })
	var held []*net.TCPConn
	for range 2 {
		c := dialFrom(t, r, "127.0.0.1")
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	if err := waitClosed(dialFrom(t, r, "127.0.0.1"), 5*time.Second); err != nil {
		t.Fatalf("third connection of 127.0.0.1: %v; want it refused", err)
	}
	other := dialFrom(t, r, "127.0.0.3")
	if _, err := roundTrip(other, []byte("x")); err != nil {
		t.Fatalf("another client: %v", err)
	}
	s := r.Snapshot()
	wantBusiest := []ClientSnapshot{{Address: netip.MustParseAddr("127.0.0.1"), Sessions: 2}, {Address: netip.MustParseAddr("127.0.0.3"), Sessions: 1}}
	if s.RefusedPerClient != 1 || s.Refused != 0 || s.Active != 3 || s.MaxConnPerClient != 2 ||
		s.Clients != 2 || s.ClientsAtLimit != 1 || !slices.Equal(s.BusiestClients, wantBusiest) {
		t.Fatalf("snapshot: refused %d per client, %d maxconn, %d active, limit %d, %d clients, %d at limit, busiest %v; "+
			"want 1, 0, 3, 2, 2, 1, %v", s.RefusedPerClient, s.Refused, s.Active, s.MaxConnPerClient, s.Clients, s.ClientsAtLimit, s.BusiestClients, wantBusiest)
	}
	if n := srv.accepts.Load(); n != 3 {
		t.Errorf("backend saw %d connections, want 3", n)
	}
	warns := logs.FilterMessageSnippet("maxconn_per_client").All()
	if len(warns) != 1 || warns[0].Level != zapcore.WarnLevel || warns[0].ContextMap()["client"] != "127.0.0.1" ||
		warns[0].ContextMap()["sessions"] != int64(2) || warns[0].ContextMap()["refused"] != int64(1) {
		t.Errorf("log lines about the limit: %v; want one warning naming 127.0.0.1, its 2 sessions and 1 refused", warns)
	}
	ends := logs.FilterMessage("session ended").All()
	if len(ends) != 1 || ends[0].ContextMap()["reason"] != "refused_client" {
		t.Errorf("session log: %v; want one line with reason refused_client", ends)
	}

	// One of its sessions ends: room for one more.
	held[0].Close()
	eventually(t, 5*time.Second, "127.0.0.1 below its limit", func() bool { return r.Snapshot().ClientsAtLimit == 0 })
	c := dialFrom(t, r, "127.0.0.1")
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatalf("after a session ended: %v", err)
	}
	held[0] = c

	// A reload to 1 keeps the two sessions and refuses the third.
	cfg.MaxConnPerClient = 1
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	for _, c := range held {
		if _, err := roundTrip(c, []byte("y")); err != nil {
			t.Fatalf("a session above the lowered limit: %v; want it kept", err)
		}
	}
	if err := waitClosed(dialFrom(t, r, "127.0.0.1"), 5*time.Second); err != nil {
		t.Fatalf("after the reload to 1: %v; want it refused", err)
	}
	if s := r.Snapshot(); s.RefusedPerClient != 2 || s.ClientsAtLimit != 2 || s.MaxConnPerClient != 1 {
		t.Errorf("after the reload: refused %d, %d at limit, limit %d; want 2, 2 (127.0.0.1 and 127.0.0.3), 1", s.RefusedPerClient, s.ClientsAtLimit, s.MaxConnPerClient)
	}

	// 0 lifts it.
	cfg.MaxConnPerClient = 0
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(dialFrom(t, r, "127.0.0.1"), []byte("z")); err != nil {
		t.Fatalf("without a limit: %v", err)
	}
	if s := r.Snapshot(); s.ClientsAtLimit != 0 || s.BusiestClients[0].Sessions != 3 {
		t.Errorf("without a limit: %d at limit, busiest %v; want 0 and 127.0.0.1 with 3", s.ClientsAtLimit, s.BusiestClients)
	}
}

// TestClientSummaryPaths: the busiest clients, of all and of those the
// lists refuse, picked under the table's lock and sorted from a copy
// agree, for any table, k and lists.
func TestClientSummaryPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := netip.MustParsePrefix
	lists := []*clientLists{nil,
		newClientLists([]netip.Prefix{p("10.0.0.0/27")}, nil),
		newClientLists(nil, []netip.Prefix{p("10.0.1.0/28")}),
		newClientLists([]netip.Prefix{p("10.0.0.0/23")}, []netip.Prefix{p("10.0.0.8/29"), p("10.0.1.30/32")})}
	same := func(a, b clientSummary) bool {
		return a.clients == b.clients && a.atLimit == b.atLimit && slices.Equal(a.busiest, b.busiest) &&
			a.outside == b.outside && slices.Equal(a.busiestOutside, b.busiestOutside)
	}
	for round := range 200 {
		tb := newClientTable()
		for range rng.IntN(300) {
			tb.add(netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(2)), byte(rng.IntN(40))}), 0)
		}
		limit := int64(rng.IntN(6))
		cl := lists[rng.IntN(len(lists))]
		for _, k := range []int{0, 1, 5, summaryInPlace} {
			s1, s2 := tb.summary(k, limit, cl), tb.sorted(k, limit, cl)
			if !same(s1, s2) || len(s1.busiest) != min(k, s1.clients) || len(s1.busiestOutside) != min(k, s1.outside) {
				t.Fatalf("round %d, k %d, limit %d: in place %+v; sorted %+v", round, k, limit, s1, s2)
			}
		}
		all := tb.summary(1000, 0, cl)
		if !slices.IsSortedFunc(all.busiest, busier) || len(all.busiest) != len(tb.n) {
			t.Fatalf("round %d: listing every client: %v", round, all.busiest)
		}
		outside := 0
		for _, c := range all.busiest {
			if c.NotAllowed != !cl.allows(c.Address) {
				t.Fatalf("round %d: %v marked %v", round, c.Address, c.NotAllowed)
			}
			if c.NotAllowed {
				outside++
			}
		}
		if all.outside != outside || !slices.IsSortedFunc(all.busiestOutside, busier) || len(all.busiestOutside) != outside {
			t.Fatalf("round %d: %d outside, listed %v; want %d", round, all.outside, all.busiestOutside, outside)
		}
	}
}
