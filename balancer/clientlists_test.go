package balancer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestAllowedClientsAllows: an empty list serves everyone; otherwise an
// address is served when a prefix holds it, an IPv4-mapped address as its
// IPv4 one and a zoned one without its zone, and a prefix never holds an
// address of the other family.
func TestAllowedClientsAllows(t *testing.T) {
	list := func(ps ...string) *clientLists {
		var out []netip.Prefix
		for _, p := range ps {
			out = append(out, netip.MustParsePrefix(p))
		}
		return newClientLists(out, nil)
	}
	for _, c := range []struct {
		list *clientLists
		addr string
		want bool
	}{
		{nil, "192.0.2.1", true},
		{list(), "2001:db8::1", true},
		{list("10.0.0.0/8"), "10.200.0.1", true},
		{list("10.0.0.0/8"), "11.0.0.1", false},
		{list("10.0.0.0/8"), "::ffff:10.1.2.3", true},
		{list("10.0.0.0/8"), "::ffff:11.1.2.3", false},
		{list("192.0.2.7/32", "10.0.0.0/8"), "192.0.2.7", true},
		{list("192.0.2.7/32", "10.0.0.0/8"), "192.0.2.8", false},
		{list("0.0.0.0/0"), "203.0.113.9", true},
		{list("0.0.0.0/0"), "2001:db8::1", false},
		{list("::/0"), "2001:db8::1", true},
		{list("::/0"), "203.0.113.9", false},
		{list("::/0"), "::ffff:203.0.113.9", false},
		{list("fe80::/64"), "fe80::1%eth0", true},
		{list("2001:db8::/32"), "2001:db9::1", false},
		// Ranges that overlap, nest, touch or sit at a family's end.
		{list("10.0.0.0/8", "10.1.0.0/16", "11.0.0.0/8"), "11.255.255.255", true},
		{list("10.1.0.0/16", "10.0.0.0/8"), "10.200.0.1", true},
		{list("10.1.0.0/16", "10.0.0.0/8"), "12.0.0.0", false},
		{list("10.0.0.0/31", "10.0.0.2/31"), "10.0.0.3", true},
		{list("10.0.0.0/31", "10.0.0.4/31"), "10.0.0.2", false},
		{list("255.255.255.255/32", "::/128"), "255.255.255.255", true},
		{list("255.255.255.255/32"), "::", false},
		{list("::/128"), "0.0.0.0", false},
		{list("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "0.0.0.0/32"), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{list("192.0.2.7/32", "192.0.2.9/32"), "192.0.2.8", false},
	} {
		if got := c.list.allows(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("%v allows %s = %v, want %v", c.list, c.addr, got, c.want)
		}
	}
}

// TestClientListsRefuse: an address in denied_clients is refused as
// denied, also when allowed_clients holds it; one allowed_clients leaves
// out as not allowed; every other one is served. An IPv4-mapped address
// is matched as its IPv4 one in both lists.
func TestClientListsRefuse(t *testing.T) {
	ps := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	for _, c := range []struct {
		allowed, denied []netip.Prefix
		addr            string
		want            EndReason
	}{
		{nil, nil, "192.0.2.1", EndUnknown},
		{nil, ps("192.0.2.7/32"), "192.0.2.7", EndDenied},
		{nil, ps("192.0.2.7/32"), "::ffff:192.0.2.7", EndDenied},
		{nil, ps("192.0.2.7/32"), "192.0.2.8", EndUnknown},
		{nil, ps("2001:db8::/32"), "2001:db8::1", EndDenied},
		{ps("10.0.0.0/8"), ps("10.1.0.0/16"), "10.1.2.3", EndDenied},
		{ps("10.0.0.0/8"), ps("10.1.0.0/16"), "10.2.0.1", EndUnknown},
		{ps("10.0.0.0/8"), ps("10.1.0.0/16"), "11.0.0.1", EndNotAllowed},
		{ps("10.0.0.0/8"), ps("11.0.0.0/8"), "11.0.0.1", EndDenied},
	} {
		lists := newClientLists(c.allowed, c.denied)
		if got := lists.refuses(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("allowed %v, denied %v: %s refused as %v, want %v", c.allowed, c.denied, c.addr, got, c.want)
		}
		if got := lists.allows(netip.MustParseAddr(c.addr)); got != (c.want == EndUnknown) {
			t.Errorf("allowed %v, denied %v: allows %s = %v", c.allowed, c.denied, c.addr, got)
		}
	}
}

// TestAllowedClientsSearch: the ranges looked up by binary search allow
// exactly the addresses a prefix of the list contains, for random lists
// of both families and addresses near their edges.
func TestAllowedClientsSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randAddr := func(v6 bool) netip.Addr {
		if v6 {
			var b [16]byte
			b[0], b[1] = 0x20, 0x01 // a few /16s, so that prefixes meet
			b[2] = byte(rng.IntN(4))
			for i := 3; i < 16; i++ {
				b[i] = byte(rng.IntN(256))
			}
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
	}
	for range 2000 {
		var ps []netip.Prefix
		for range 1 + rng.IntN(8) {
			v6 := rng.IntN(3) == 0
			a := randAddr(v6)
			bits := 8 + rng.IntN(a.BitLen()-7)
			ps = append(ps, netip.PrefixFrom(a, bits).Masked())
		}
		list := newAddrSet(ps)
		var probes []netip.Addr
		for _, p := range ps {
			last := lastAddr(p)
			probes = append(probes, p.Addr(), p.Addr().Prev(), last, last.Next(), randAddr(p.Addr().Is6()))
		}
		for _, a := range probes {
			if !a.IsValid() {
				continue
			}
			want := slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
			if got := list.contains(a); got != want {
				t.Fatalf("%v contains %s = %v, want %v (ranges %v)", ps, a, got, want, list.ranges)
			}
		}
	}
}

// BenchmarkAllowedClients is the cost of an accepted client's look-up in
// a list of 10 and of 10000 addresses apart (one copied from a list
// file), beside a scan of the prefixes in order (linear), and with a
// denied_clients of as many addresses beside it (both lists looked up).
func BenchmarkAllowedClients(b *testing.B) {
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.20"), netip.MustParseAddr("10.0.78.33"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("::ffff:10.0.0.8")}
	for _, n := range []int{10, 10000} {
		var ps []netip.Prefix
		for i := range n {
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 7), byte(i << 1)}), 32))
		}
		list := newClientLists(ps, nil)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				list.allows(addrs[i%len(addrs)])
			}
		})
		both := newClientLists(ps, ps[:len(ps)/2])
		b.Run(strconv.Itoa(n)+"-denied", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				both.allows(addrs[i%len(addrs)])
			}
		})
		b.Run(strconv.Itoa(n)+"-linear", func(b *testing.B) {
			found := 0
			for i := 0; b.Loop(); i++ {
				a := addrs[i%len(addrs)].Unmap()
				if slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) }) {
					found++
				}
			}
			if found == 0 {
				b.Fatal("no address found")
			}
		})
	}
}

// TestAllowedClientsValidate: each entry of allowed_clients and of
// denied_clients is checked and named by its index; a prefix with bits
// past its length is refused with the prefix meant, an IPv4-mapped one
// with the IPv4 prefix to write.
func TestAllowedClientsValidate(t *testing.T) {
	for _, c := range []struct {
		prefix string // "" for the zero Prefix
		want   string // "" for valid
	}{
		{"10.0.0.0/8", ""},
		{"192.0.2.7/32", ""},
		{"::/0", ""},
		{"2001:db8::/32", ""},
		{"", `allowed_clients[1]: must be an address or a prefix (10.0.0.0/8), not invalid Prefix`},
		{"10.1.2.3/8", "allowed_clients[1]: 10.1.2.3/8 has bits set past its length 8: did you mean 10.0.0.0/8?"},
		{"::ffff:10.0.0.0/104", "allowed_clients[1]: ::ffff:10.0.0.0/104 is IPv4-mapped, which never matches (IPv4 clients are matched as IPv4): write 10.0.0.0/8"},
		{"::ffff:10.1.0.0/96", "allowed_clients[1]: ::ffff:10.1.0.0/96 is IPv4-mapped, which never matches (IPv4 clients are matched as IPv4): write 0.0.0.0/0"},
	} {
		var p netip.Prefix
		if c.prefix != "" {
			p = netip.MustParsePrefix(c.prefix)
		}
		for _, key := range []string{"allowed_clients", "denied_clients"} {
			cfg := validConfig()
			list := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), p}
			if key == "allowed_clients" {
				cfg.AllowedClients = list
			} else {
				cfg.DeniedClients = list
			}
			want := strings.Replace(c.want, "allowed_clients", key, 1)
			err := cfg.Validate()
			switch {
			case want == "" && err != nil:
				t.Errorf("%s %s: %v, want valid", key, c.prefix, err)
			case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Errorf("%s %s: %v, want %q", key, c.prefix, err, want)
			}
		}
	}
	// A denied list of the other family than the bind's clients refuses
	// nobody, and is no mistake worth refusing a file for.
	cfg := validConfig()
	cfg.DeniedClients = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}
	if err := cfg.Validate(); err != nil {
		t.Errorf("an IPv6 denied list on %s: %v, want valid", cfg.Bind, err)
	}
}

// TestAllowedClientsFamily: a list with no prefix of the family the
// bind takes clients of is refused, since it would refuse every client;
// :: takes both families.
func TestAllowedClientsFamily(t *testing.T) {
	for _, c := range []struct {
		bind    string
		allowed []string
		want    string // "" for valid
	}{
		{"10.0.0.100:5672", []string{"10.0.0.0/8"}, ""},
		{"10.0.0.100:5672", []string{"2001:db8::/32", "192.0.2.0/24"}, ""},
		{"10.0.0.100:5672", []string{"2001:db8::/32"}, "allowed_clients: holds no IPv4 prefix, and bind 10.0.0.100:5672 takes IPv4 clients only: every client would be refused"},
		{"0.0.0.0:5672", []string{"::/0"}, "allowed_clients: holds no IPv4 prefix, and bind 0.0.0.0:5672 takes IPv4 clients only"},
		{"[2001:db8::100]:5672", []string{"10.0.0.0/8"}, "allowed_clients: holds no IPv6 prefix, and bind [2001:db8::100]:5672 takes IPv6 clients only"},
		{"[2001:db8::100]:5672", []string{"2001:db8::/32"}, ""},
		{"[::]:5672", []string{"10.0.0.0/8"}, ""},
		{"[::]:5672", []string{"2001:db8::/32"}, ""},
	} {
		cfg := validConfig()
		cfg.Bind = netip.MustParseAddrPort(c.bind)
		for _, p := range c.allowed {
			cfg.AllowedClients = append(cfg.AllowedClients, netip.MustParsePrefix(p))
		}
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %v: %v, want valid", c.bind, c.allowed, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %v: %v, want %q", c.bind, c.allowed, err, c.want)
		}
	}
}

// TestClientTableOutside: the client addresses a list leaves out are
// counted, the busiest listed first, and marked among the busiest of all;
// an empty list leaves none out.
func TestClientTableOutside(t *testing.T) {
	a := netip.MustParseAddr
	tb := newClientTable()
	for _, c := range []string{"10.0.0.1", "192.0.2.1", "192.0.2.1", "192.0.2.2", "::ffff:198.51.100.1", "2001:db8::1"} {
		tb.add(a(c), 0)
	}
	list := newClientLists([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}, nil)
	s := tb.summary(2, 0, list)
	want := []ClientSnapshot{{Address: a("192.0.2.1"), Sessions: 2, NotAllowed: true}, {Address: a("192.0.2.2"), Sessions: 1, NotAllowed: true}}
	if s.outside != 3 || !slices.Equal(s.busiestOutside, want) {
		t.Errorf("outside = %d, %v; want 3, %v", s.outside, s.busiestOutside, want)
	}
	wantAll := []ClientSnapshot{{Address: a("192.0.2.1"), Sessions: 2, NotAllowed: true}, {Address: a("10.0.0.1"), Sessions: 1}}
	if s.clients != 5 || !slices.Equal(s.busiest, wantAll) {
		t.Errorf("clients = %d, %v; want 5, %v", s.clients, s.busiest, wantAll)
	}
	if s := tb.summary(5, 0, nil); s.outside != 0 || s.busiestOutside != nil || slices.ContainsFunc(s.busiest, func(c ClientSnapshot) bool { return c.NotAllowed }) {
		t.Errorf("outside no list = %d, %v, of all %v; want 0, none, none marked", s.outside, s.busiestOutside, s.busiest)
	}
	// A denied address is left out too, also one the allowed list holds.
	list = newClientLists([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
		[]netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")})
	want = append(want, ClientSnapshot{Address: a("198.51.100.1"), Sessions: 1, NotAllowed: true}, ClientSnapshot{Address: a("2001:db8::1"), Sessions: 1, NotAllowed: true})
	if s := tb.summary(5, 0, list); s.outside != 4 || !slices.Equal(s.busiestOutside, want) {
		t.Errorf("outside with a denied list = %d, %v; want 4, %v", s.outside, s.busiestOutside, want)
	}
	if s := tb.summary(5, 0, newClientLists(nil, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})); s.outside != 2 {
		t.Errorf("outside a denied list alone = %d, want 2", s.outside)
	}
}

// shutKeptSession checks that the sessions a NotAllowed filter selects
// are the one of client, which the lists refuse now, a session kept from
// before they changed, and shuts it down: conn, its client's end, is
// closed.
func shutKeptSession(t *testing.T, r *Listener, client netip.Addr, conn net.Conn) {
	t.Helper()
	list, n, err := r.Sessions(context.Background(), SessionFilter{NotAllowed: true})
	if err != nil || n != 1 || len(list) != 1 || list[0].Client.Addr() != client {
		t.Fatalf("sessions refused now: %v, %d, %v; want the one of %v", list, n, err, client)
	}
	if n, err := r.ShutdownSessionsMatching(context.Background(), SessionFilter{NotAllowed: true}); n != 1 || err != nil {
		t.Fatalf("shutting down the sessions refused now: %d, %v; want 1", n, err)
	}
	if err := waitClosed(conn, 5*time.Second); err != nil {
		t.Fatalf("%v's session after its shutdown: %v", client, err)
	}
}

// TestAllowedClients: a client whose address is in none of
// allowed_clients is closed at once, without a backend connection or a
// place under maxconn, counted, logged (rate-limited) and given a session
// line; an allowed one is served. A reload that narrows the list keeps
// the sessions it leaves out, counts and names their clients in the
// snapshot and the log, lists and shuts them down by a NotAllowed filter,
// and refuses their next connections; one that
// widens it serves them; an empty list serves every client.
func TestAllowedClients(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.MaxConn = 1
	cfg.LogSessions = true
	cfg.AllowedClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewPedanticRegistry()
	r := startRegistered(t, cfg, reg, 2, func(l *Listener) { l.log = zap.New(core) })

	allowed := dialFrom(t, r, "127.0.0.1")
	if _, err := roundTrip(allowed, []byte("x")); err != nil {
		t.Fatalf("allowed client: %v", err)
	}
	for range 3 {
		if err := waitClosed(dialFrom(t, r, "127.0.0.3"), 5*time.Second); err != nil {
			t.Fatalf("client not allowed: %v; want it closed", err)
		}
	}
	s := r.Snapshot()
	if s.RefusedNotAllowed != 3 || s.Refused != 0 || s.Active != 1 || s.Total != 1 ||
		!slices.Equal(s.AllowedClients, cfg.AllowedClients) {
		t.Fatalf("snapshot: %d refused not allowed, %d maxconn, %d active, %d total, allowed %v; want 3, 0, 1, 1, %v",
			s.RefusedNotAllowed, s.Refused, s.Active, s.Total, s.AllowedClients, cfg.AllowedClients)
	}
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1 (the allowed client's)", n)
	}
	mfs := metricstest.Gather(t, reg)
	if v := metricstest.Value(t, mfs, "rmqlb_listener_refused_connections_total", map[string]string{"listener": cfg.Name, "reason": "not_allowed"}); v != 3 {
		t.Errorf("refused not_allowed metric = %v, want 3", v)
	}
	warns := logs.FilterMessageSnippet("allowed_clients").All()
	if len(warns) != 1 || warns[0].Level != zapcore.WarnLevel || warns[0].ContextMap()["client"] != "127.0.0.3" ||
		warns[0].ContextMap()["refused"] != int64(1) {
		t.Errorf("log lines about allowed_clients: %v; want one warning (the others within 10s) naming 127.0.0.3 and 1 refused", warns)
	}
	ends := logs.FilterMessage("session ended").Filter(func(e observer.LoggedEntry) bool {
		return e.ContextMap()["reason"] == "not_allowed"
	}).All()
	if len(ends) != 3 {
		t.Errorf("session log: %d lines with reason not_allowed, want 3", len(ends))
	}

	// Narrowed to 127.0.0.3: the session of 127.0.0.1 is kept, its next
	// connection refused, 127.0.0.3 served (maxconn raised for it).
	cfg.MaxConn = 0
	cfg.AllowedClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(allowed, []byte("y")); err != nil {
		t.Fatalf("the session the narrowed list leaves out: %v; want it kept", err)
	}
	if err := waitClosed(dialFrom(t, r, "127.0.0.1"), 5*time.Second); err != nil {
		t.Fatalf("127.0.0.1 after the list was narrowed: %v; want it closed", err)
	}
	if _, err := roundTrip(dialFrom(t, r, "127.0.0.3"), []byte("z")); err != nil {
		t.Fatalf("127.0.0.3 once allowed: %v", err)
	}
	wantOutside := []ClientSnapshot{{Address: netip.MustParseAddr("127.0.0.1"), Sessions: 1, NotAllowed: true}}
	if s := r.Snapshot(); s.RefusedNotAllowed != 4 || s.Active != 2 || s.ClientsNotAllowed != 1 || !slices.Equal(s.NotAllowedClients, wantOutside) {
		t.Errorf("after narrowing: %d refused, %d active, %d clients outside the list %v; want 4, 2, 1 %v",
			s.RefusedNotAllowed, s.Active, s.ClientsNotAllowed, s.NotAllowedClients, wantOutside)
	}
	wantClients := []ClientSnapshot{{Address: netip.MustParseAddr("127.0.0.1"), Sessions: 1, NotAllowed: true}, {Address: netip.MustParseAddr("127.0.0.3"), Sessions: 1}}
	if list, _, _, _ := r.Clients(5); !slices.Equal(list, wantClients) {
		t.Errorf("clients after narrowing: %v, want %v", list, wantClients)
	}
	if s := r.Snapshot(); !slices.Equal(s.BusiestClients, wantClients) {
		t.Errorf("busiest clients after narrowing: %v, want %v", s.BusiestClients, wantClients)
	}
	kept := logs.FilterMessageSnippet("allowed_clients or denied_clients changed").All()
	if len(kept) != 1 || kept[0].ContextMap()["clients"] != int64(1) || fmt.Sprint(kept[0].ContextMap()["busiest"]) != "[127.0.0.1]" {
		t.Errorf("log of the reload: %v; want one warning of the 1 client address outside the list, 127.0.0.1", kept)
	}

	// The sessions outside the list are listed and shut down by
	// NotAllowed: 127.0.0.1's, not 127.0.0.3's.
	shutKeptSession(t, r.Listener, netip.MustParseAddr("127.0.0.1"), allowed)
	eventually(t, 5*time.Second, "no client outside the list", func() bool { return r.Snapshot().ClientsNotAllowed == 0 })
	if s := r.Snapshot(); s.Active != 1 {
		t.Errorf("after the shutdown of the sessions not allowed: %d active, want 1 (127.0.0.3's)", s.Active)
	}

	// An empty list serves everyone, and leaves no session out.
	cfg.AllowedClients = nil
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"127.0.0.1", "127.0.0.4"} {
		if _, err := roundTrip(dialFrom(t, r, ip), []byte("w")); err != nil {
			t.Fatalf("%s without a list: %v", ip, err)
		}
	}
	if _, n, err := r.Sessions(context.Background(), SessionFilter{NotAllowed: true}); n != 0 || err != nil {
		t.Errorf("sessions not allowed without a list: %d, %v; want none", n, err)
	}
	if s := r.Snapshot(); s.RefusedNotAllowed != 4 || s.AllowedClients != nil || s.ClientsNotAllowed != 0 || s.NotAllowedClients != nil {
		t.Errorf("without a list: %d refused, allowed %v, %d clients outside it %v; want 4, none, 0, none",
			s.RefusedNotAllowed, s.AllowedClients, s.ClientsNotAllowed, s.NotAllowedClients)
	}
}

// TestDeniedClients: a client whose address is in denied_clients is
// closed at once, without a backend connection or a place under maxconn,
// counted apart from those allowed_clients leaves out, logged
// (rate-limited) and given a session line; denied_clients wins over
// allowed_clients. A reload that denies a client with a session keeps
// the session, counts and names its client, and lists and shuts it down
// by a NotAllowed filter; one that empties the list serves it again.
func TestDeniedClients(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.MaxConn = 2
	cfg.LogSessions = true
	cfg.AllowedClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/29")}
	cfg.DeniedClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32"), netip.MustParsePrefix("127.0.0.8/32")}
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewPedanticRegistry()
	r := startRegistered(t, cfg, reg, 2, func(l *Listener) { l.log = zap.New(core) })

	served := dialFrom(t, r, "127.0.0.1")
	if _, err := roundTrip(served, []byte("x")); err != nil {
		t.Fatalf("a client neither list refuses: %v", err)
	}
	for range 3 {
		if err := waitClosed(dialFrom(t, r, "127.0.0.3"), 5*time.Second); err != nil {
			t.Fatalf("denied client: %v; want it closed", err)
		}
	}
	if err := waitClosed(dialFrom(t, r, "127.0.0.9"), 5*time.Second); err != nil {
		t.Fatalf("client outside allowed_clients: %v; want it closed", err)
	}
	s := r.Snapshot()
	if s.RefusedDenied != 3 || s.RefusedNotAllowed != 1 || s.Refused != 0 || s.Active != 1 || s.Total != 1 ||
		!slices.Equal(s.DeniedClients, cfg.DeniedClients) {
		t.Fatalf("snapshot: %d refused denied, %d not allowed, %d maxconn, %d active, %d total, denied %v; want 3, 1, 0, 1, 1, %v",
			s.RefusedDenied, s.RefusedNotAllowed, s.Refused, s.Active, s.Total, s.DeniedClients, cfg.DeniedClients)
	}
	if n := srv.accepts.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1 (the served client's)", n)
	}
	mfs := metricstest.Gather(t, reg)
	if v := metricstest.Value(t, mfs, "rmqlb_listener_refused_connections_total", map[string]string{"listener": cfg.Name, "reason": "denied"}); v != 3 {
		t.Errorf("refused denied metric = %v, want 3", v)
	}
	warns := logs.FilterMessageSnippet("in denied_clients").All()
	if len(warns) != 1 || warns[0].Level != zapcore.WarnLevel || warns[0].ContextMap()["client"] != "127.0.0.3" {
		t.Errorf("log lines about denied_clients: %v; want one warning (the others within 10s) naming 127.0.0.3", warns)
	}
	ends := logs.FilterMessage("session ended").Filter(func(e observer.LoggedEntry) bool {
		return e.ContextMap()["reason"] == "denied"
	}).All()
	if len(ends) != 3 {
		t.Errorf("session log: %d lines with reason denied, want 3", len(ends))
	}

	// 127.0.0.1 denied by a reload: its session is kept, its next
	// connection refused, and it is named as a client the lists refuse.
	cfg.DeniedClients = append(cfg.DeniedClients, netip.MustParsePrefix("127.0.0.1/32"))
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(served, []byte("y")); err != nil {
		t.Fatalf("the session of a client denied by a reload: %v; want it kept", err)
	}
	if err := waitClosed(dialFrom(t, r, "127.0.0.1"), 5*time.Second); err != nil {
		t.Fatalf("127.0.0.1 once denied: %v; want it closed", err)
	}
	wantOutside := []ClientSnapshot{{Address: netip.MustParseAddr("127.0.0.1"), Sessions: 1, NotAllowed: true}}
	if s := r.Snapshot(); s.RefusedDenied != 4 || s.ClientsNotAllowed != 1 || !slices.Equal(s.NotAllowedClients, wantOutside) {
		t.Errorf("after the reload: %d refused denied, %d clients refused %v; want 4, 1 %v",
			s.RefusedDenied, s.ClientsNotAllowed, s.NotAllowedClients, wantOutside)
	}
	if list, _, _, _ := r.Clients(5); !slices.Equal(list, wantOutside) {
		t.Errorf("clients after the reload: %v, want %v", list, wantOutside)
	}
	kept := logs.FilterMessageSnippet("allowed_clients or denied_clients changed").All()
	if len(kept) != 1 || kept[0].ContextMap()["clients"] != int64(1) {
		t.Errorf("log of the reload: %v; want one warning of the 1 client address refused now", kept)
	}
	shutKeptSession(t, r.Listener, netip.MustParseAddr("127.0.0.1"), served)

	// No denied list: 127.0.0.3 is served again.
	cfg.DeniedClients = nil
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(dialFrom(t, r, "127.0.0.3"), []byte("z")); err != nil {
		t.Fatalf("127.0.0.3 without a denied list: %v", err)
	}
	if s := r.Snapshot(); s.RefusedDenied != 4 || s.DeniedClients != nil {
		t.Errorf("without a denied list: %d refused denied, denied %v; want 4, none", s.RefusedDenied, s.DeniedClients)
	}
}

// TestSnapshotSharesClientLists: snapshots share the listener's client
// lists rather than copy them, yet nothing a caller does to a snapshot's
// lists (an append) or to the Config it passed reaches the listener, and
// a snapshot keeps the lists it was taken with across a reload that
// replaces them.
func TestSnapshotSharesClientLists(t *testing.T) {
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: netip.MustParseAddrPort("127.0.0.2:5672"), Weight: 1}})
	// A length the allocator rounds up, so that NewListener's copy has
	// room past it, as has the caller's slice.
	allowed := make([]netip.Prefix, 0, 128)
	for i := range 100 {
		allowed = append(allowed, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
	}
	cfg.AllowedClients = allowed
	cfg.DeniedClients = []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}
	l, err := NewListener(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(allowed)
	allowed[0] = netip.MustParsePrefix("192.0.2.0/24") // the caller's slice, after NewListener

	s1, s2 := l.Snapshot(), l.Snapshot()
	if !slices.Equal(s1.AllowedClients, want) || !slices.Equal(s1.DeniedClients, cfg.DeniedClients) {
		t.Fatalf("snapshot lists %v and %v; want %v and %v", s1.AllowedClients, s1.DeniedClients, want, cfg.DeniedClients)
	}
	if &s1.AllowedClients[0] != &s2.AllowedClients[0] || &s1.DeniedClients[0] != &s2.DeniedClients[0] {
		t.Fatal("two snapshots hold copies of the client lists; want them shared")
	}
	grown := append(s1.AllowedClients, netip.MustParsePrefix("198.51.100.0/24"))
	grown[0] = netip.MustParsePrefix("203.0.113.0/24")
	_ = append(s1.DeniedClients, netip.MustParsePrefix("198.51.100.0/24"))
	if s3 := l.Snapshot(); !slices.Equal(s3.AllowedClients, want) || len(s3.DeniedClients) != 1 {
		t.Fatalf("after appends to a snapshot's lists the listener's are %v and %v; want %v and %v",
			s3.AllowedClients, s3.DeniedClients, want, cfg.DeniedClients)
	}

	cfg.AllowedClients = []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")}
	cfg.DeniedClients = nil
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s1.AllowedClients, want) || len(s1.DeniedClients) != 1 {
		t.Fatalf("a reload changed an earlier snapshot's lists to %v and %v", s1.AllowedClients, s1.DeniedClients)
	}
	if s4 := l.Snapshot(); !slices.Equal(s4.AllowedClients, cfg.AllowedClients) || s4.DeniedClients != nil {
		t.Fatalf("after the reload the snapshot lists %v and %v; want %v and none", s4.AllowedClients, s4.DeniedClients, cfg.AllowedClients)
	}
}
