package balancer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// echoOnceThenHold returns a handler that answers the first read and then
// reads on, and keeps its side open after its client's end until release
// is called: a broker that has not closed yet. Call release before the
// servers close (a clean-up registered after theirs).
func echoOnceThenHold() (handler func(net.Conn), release func()) {
	hold := make(chan struct{})
	return func(c net.Conn) {
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		c.Write(buf[:n])
		io.Copy(io.Discard, c)
		<-hold
	}, func() { close(hold) }
}

// dialFrom connects to the listener from the local address ip.
func dialFrom(t *testing.T, r *runningListener, ip string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.DialContext(context.Background(), "tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// TestSessions: Sessions lists each session of every loop with its
// client, backend, the proxy's source address that the backend sees, its
// state and bytes, ordered by backend and age; the filter selects by
// backend and by client, the limit cuts the list and not the total.
func TestSessions(t *testing.T) {
	hold, release := echoOnceThenHold()
	a := newServer(t, "127.0.0.2", hold)
	b := newServer(t, "127.0.0.3", hold)
	t.Cleanup(release)
	r := startListener(t, baseConfig(backendsOf(a, b)), 2)
	if list, total := sessionsOf(t, r, SessionFilter{}); len(list) != 0 || total != 0 {
		t.Fatalf("no client yet: %d listed, %d total", len(list), total)
	}
	clients := []string{"127.0.0.5", "127.0.0.6", "127.0.0.5", "127.0.0.6"}
	var conns []*net.TCPConn
	start := time.Now()
	for _, ip := range clients {
		c := dialFrom(t, r, ip)
		if _, err := roundTrip(c, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		time.Sleep(2 * time.Millisecond) // distinct accept times: the order is by age
	}
	// What each backend sees as its clients' addresses.
	seen := map[netip.AddrPort]netip.AddrPort{} // source -> backend address
	for _, s := range []*testServer{a, b} {
		s.mu.Lock()
		for c := range s.conns {
			seen[netip.MustParseAddrPort(c.RemoteAddr().String())] = s.addr
		}
		s.mu.Unlock()
	}

	list, total := sessionsOf(t, r, SessionFilter{})
	if total != 4 || len(list) != 4 {
		t.Fatalf("%d listed, %d total; want 4 and 4: %+v", len(list), total, list)
	}
	// Round robin: a takes clients 0 and 2, b 1 and 3; a's first.
	for i, want := range []struct {
		client  int
		backend string
		addr    netip.AddrPort
	}{{0, "a", a.addr}, {2, "a", a.addr}, {1, "b", b.addr}, {3, "b", b.addr}} {
		s := list[i]
		if c := netip.MustParseAddrPort(conns[want.client].LocalAddr().String()); s.Client != c {
			t.Errorf("session %d: client %s, want %s", i, s.Client, c)
		}
		if s.Backend != want.backend || s.BackendAddress != want.addr || s.State != SessionEstablished {
			t.Errorf("session %d: backend %q at %s, %s; want %q at %s, established", i, s.Backend, s.BackendAddress, s.State, want.backend, want.addr)
		}
		if got, ok := seen[s.Source]; !ok || got != s.BackendAddress {
			t.Errorf("session %d: source %s is not a client address backend %s saw (%v)", i, s.Source, s.BackendAddress, seen)
		}
		if s.BytesIn != 5 || s.BytesOut != 5 {
			t.Errorf("session %d: %d bytes in, %d out; want 5 and 5", i, s.BytesIn, s.BytesOut)
		}
		if s.Since.Before(start.Add(-time.Second)) || s.Since.After(time.Now()) || s.LastActive.Before(s.Since) {
			t.Errorf("session %d: since %v, last active %v; the test started at %v", i, s.Since, s.LastActive, start)
		}
	}
	if !list[0].Since.Before(list[1].Since) || !list[2].Since.Before(list[3].Since) {
		t.Errorf("not the oldest first: %+v", list)
	}

	for _, tc := range []struct {
		name    string
		f       SessionFilter
		clients []int
		total   int
	}{
		{"backend b", SessionFilter{Backend: "b"}, []int{1, 3}, 2},
		{"client 127.0.0.5", SessionFilter{Client: netip.MustParsePrefix("127.0.0.5/32")}, []int{0, 2}, 2},
		{"client net and backend", SessionFilter{Client: netip.MustParsePrefix("127.0.0.0/24"), Backend: "a"}, []int{0, 2}, 2},
		{"an IPv4-mapped prefix", SessionFilter{Client: netip.MustParsePrefix("::ffff:127.0.0.6/128")}, []int{1, 3}, 2},
		{"an IPv6 prefix", SessionFilter{Client: netip.MustParsePrefix("::/0")}, nil, 0},
		{"unknown backend", SessionFilter{Backend: "c"}, nil, 0},
		{"one client port", SessionFilter{Client: netip.MustParsePrefix("127.0.0.6/32"), ClientPort: conns[3].LocalAddr().(*net.TCPAddr).AddrPort().Port()}, []int{3}, 1},
		{"limit", SessionFilter{Limit: 3}, []int{0, 2, 1}, 4},
		{"limit and backend", SessionFilter{Backend: "b", Limit: 1}, []int{1}, 2},
	} {
		list, total := sessionsOf(t, r, tc.f)
		var got []int
		for _, s := range list {
			got = append(got, slices.IndexFunc(conns, func(c *net.TCPConn) bool { return c.LocalAddr().String() == s.Client.String() }))
		}
		if total != tc.total || !slices.Equal(got, tc.clients) {
			t.Errorf("%s: clients %v of %d; want %v of %d", tc.name, got, total, tc.clients, tc.total)
		}
	}

	// A client that ends its side: the session is closing while the
	// backend's side stays open.
	if err := conns[1].CloseWrite(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, _ := sessionsOf(t, r, SessionFilter{Client: netip.MustParsePrefix("127.0.0.6/32"), Backend: "b"})
		if len(list) == 2 && list[0].State == SessionClosing && list[1].State == SessionEstablished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the client's end: %+v; want the first closing, the second established", list)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A session whose both sides closed is gone from the list.
	conns[0].Close()
	a.mu.Lock()
	for c := range a.conns {
		if netip.MustParseAddrPort(c.RemoteAddr().String()) == list[0].Source {
			c.Close()
		}
	}
	a.mu.Unlock()
	for {
		if l, total := sessionsOf(t, r, SessionFilter{Backend: "a"}); total == 1 && l[0].Source == list[1].Source {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed session is still listed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.stop(t)
	if list, total := sessionsOf(t, r, SessionFilter{}); len(list) != 0 || total != 0 {
		t.Errorf("stopped listener: %d listed, %d total", len(list), total)
	}
}

// sessionsOf is r.Sessions(f) within a few seconds.
func sessionsOf(t *testing.T, r *runningListener, f SessionFilter) ([]SessionInfo, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, total, err := r.Sessions(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	return list, total
}

// TestSessionsConnecting: a session whose backend connection is still
// being made is listed as connecting, with the address it is being
// connected to, and the source the kernel chose for the connect.
func TestSessionsConnecting(t *testing.T) {
	hang := blackhole(t)
	cfg := baseConfig([]BackendConfig{{Name: "hang", Address: hang, Weight: 1}})
	cfg.ConnectTimeout = time.Minute
	r := startListener(t, cfg, 1)
	r.dial(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, _ := sessionsOf(t, r, SessionFilter{})
		if len(list) == 1 {
			s := list[0]
			if s.State != SessionConnecting || s.Backend != "hang" || s.BackendAddress != hang || !s.Source.IsValid() {
				t.Errorf("session %+v, want connecting to hang at %v from a source", s, hang)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session listed: %+v", list)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSessionsStuckLoop: a loop that does not get to its commands makes
// Sessions return the context's error, not wait for ever; once it runs
// again, the next call lists.
func TestSessionsStuckLoop(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 2)
	if _, err := roundTrip(r.dial(t), []byte("x")); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	lp := r.loops[1]
	r.mu.Unlock()
	block := make(chan struct{})
	lp.post(func(*loop) { <-block })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := r.Sessions(ctx, SessionFilter{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a stuck loop: %v, want the deadline's error", err)
	}
	close(block)
	if _, total := sessionsOf(t, r, SessionFilter{}); total != 1 {
		t.Errorf("once the loop runs again: %d sessions, want 1", total)
	}
}

// TestShutdownSessionsMatching: the sessions of a client prefix, then of
// a backend, are closed and counted; the others keep working.
func TestShutdownSessionsMatching(t *testing.T) {
	a := newServer(t, "127.0.0.2", echo)
	b := newServer(t, "127.0.0.3", echo)
	r := startListener(t, baseConfig(backendsOf(a, b)), 2)
	var conns []*net.TCPConn
	for _, ip := range []string{"127.0.0.5", "127.0.0.6", "127.0.0.5", "127.0.0.6"} {
		c := dialFrom(t, r, ip)
		if _, err := roundTrip(c, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	shut := func(f SessionFilter) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := r.ShutdownSessionsMatching(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	open := func(want ...int) {
		t.Helper()
		for i, c := range conns {
			_, err := roundTrip(c, []byte("still"))
			if slices.Contains(want, i) != (err == nil) {
				t.Errorf("client %d: %v; want it open %v", i, err, slices.Contains(want, i))
			}
		}
	}
	if n := shut(SessionFilter{Client: netip.MustParsePrefix("::ffff:127.0.0.5/128")}); n != 2 {
		t.Errorf("client 127.0.0.5: %d closed, want 2", n)
	}
	open(1, 3)
	if n := shut(SessionFilter{Backend: "a"}); n != 0 {
		t.Errorf("backend a, whose clients are gone: %d closed, want 0", n)
	}
	if n := shut(SessionFilter{Backend: "b", Limit: 1}); n != 2 {
		t.Errorf("backend b: %d closed, want 2 (the limit does not apply)", n)
	}
	if _, total := sessionsOf(t, r, SessionFilter{}); total != 0 {
		t.Errorf("%d sessions left, want 0", total)
	}
}
