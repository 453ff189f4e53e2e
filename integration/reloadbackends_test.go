package integration

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// reloadBackendsListeners are the listeners of TestReloadBackendsNetns on
// the VIP: "amqp" (checked, sessions of a DOWN or removed backend shut)
// over echo servers a on h2 and b on h3, and "keep" (on_marked_down:
// keep-sessions) over ka on h2 and kb on h3; with added, "amqp" has c
// (h3) in b's place and "keep" loses kb.
func reloadBackendsListeners(h2, h3 string, added bool) string {
	amqp := fmt.Sprintf("      - {name: a, address: %s:7003}\n      - {name: b, address: %s:7003}\n", h2, h3)
	keep := fmt.Sprintf("      - {name: ka, address: %s:7005}\n      - {name: kb, address: %s:7005}\n", h2, h3)
	if added {
		amqp = fmt.Sprintf("      - {name: a, address: %s:7003}\n      - {name: c, address: %s:7004}\n", h2, h3)
		keep = fmt.Sprintf("      - {name: ka, address: %s:7005}\n", h2)
	}
	return fmt.Sprintf(`  - name: amqp
    bind: %s
    policy: roundrobin
    log_sessions: true
    check: {type: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1}
    backends:
%s  - name: keep
    bind: %s:5673
    policy: roundrobin
    on_marked_down: keep-sessions
    log_sessions: true
    check: {type: none}
    backends:
%s`, vipAP, amqp, vip, keep)
}

// activeConns returns the active sessions of each backend of the
// daemon's status (by name; the test's names are unique across its
// listeners), and whether the backend is there at all.
func activeConns(d *daemon, names ...string) (map[string]int, error) {
	s, err := d.status()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, n := range names {
		bs := s.backend(n)
		if bs == nil {
			out[n] = -1
			continue
		}
		v, ok := bs.raw["active_conns"].(float64)
		if !ok {
			return nil, fmt.Errorf("backend %s: no active_conns in %v", n, bs.raw)
		}
		out[n] = int(v)
	}
	return out, nil
}

// waitActive waits until the daemon's backends have exactly the active
// sessions of want (-1: the backend is not in the status).
func waitActive(d *daemon, want map[string]int, timeout time.Duration) error {
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	return waitFor(timeout, func() (bool, error) {
		got, err := activeConns(d, names...)
		if err != nil {
			return false, err
		}
		for n, w := range want {
			if got[n] != w {
				return false, fmt.Errorf("active sessions %v, want %v", got, want)
			}
		}
		return true, nil
	})
}

// waitBackend waits until the daemon's status shows backend name in
// state (case aside).
func (d *daemon) waitBackend(name, state string, timeout time.Duration) error {
	return waitFor(timeout, func() (bool, error) {
		s, err := d.status()
		if err != nil {
			return false, err
		}
		bs := s.backend(name)
		if bs == nil {
			return false, fmt.Errorf("no backend %s in status", name)
		}
		return strings.EqualFold(bs.State, state), fmt.Errorf("%s is %s, want %s", name, bs.State, state)
	})
}

// waitBackendsUp waits until the daemon's status shows each named
// backend UP.
func (d *daemon) waitBackendsUp(timeout time.Duration, names ...string) error {
	return waitFor(timeout, func() (bool, error) {
		s, err := d.status()
		if err != nil {
			return false, err
		}
		for _, b := range names {
			if bs := s.backend(b); bs == nil || !strings.EqualFold(bs.State, "up") {
				return false, fmt.Errorf("backend %s: %+v", b, bs)
			}
		}
		return true, nil
	})
}

// TestReloadBackendsNetns: a real rmqlb, VRRP master of the VIP on a lab
// host, proxies long sessions from the client to echo servers on two
// other hosts; `rmqlb reload` of a file that removes a backend of each
// listener and adds one to the first: the removed backend's sessions are
// closed where the listener says shutdown-sessions (the default) and kept
// where it says keep-sessions, and logged as ended by the removal; every
// session of a backend that stays carries on; the added backend, checked,
// takes new sessions once its first check passed; the VIP never moves.
func TestReloadBackendsNetns(t *testing.T) {
	l := newLab(t)
	h1, h2, h3, client := l.Host("h1"), l.Host("h2"), l.Host("h3"), l.Host("client")
	for _, s := range []struct {
		h    string
		port uint16
	}{{"h2", 7003}, {"h3", 7003}, {"h3", 7004}, {"h2", 7005}, {"h3", 7005}} {
		h := l.Host(s.h)
		if _, err := h.ServeEcho(h.AddrPort(s.port)); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info", VRRP: []vrrpConf{{Priority: 150}},
		Listeners: reloadBackendsListeners(h2.Addr.String(), h3.Addr.String(), false)})
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := waitSoleHolder(l, h1, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.waitBackendsUp(5*time.Second, "a", "b"); err != nil {
		t.Fatal(err)
	}
	transitions := func() uint64 {
		t.Helper()
		in, err := d.instance("vip")
		if err != nil {
			t.Fatal(err)
		}
		return in.Counters.Transitions
	}
	before := transitions()

	// Round robin: two sessions on each backend of each listener,
	// opened one at a time so that each is counted before the next.
	amqpAP, keepAP := vipAP, netip.AddrPortFrom(vip, 5673)
	var amqp, keep []*echoSession
	for i := range 4 {
		amqp = append(amqp, dialEcho(t, client, amqpAP))
		keep = append(keep, dialEcho(t, client, keepAP))
		n := (i + 2) / 2
		if err := waitActive(d, map[string]int{"a": n, "b": (i + 1) / 2, "ka": n, "kb": (i + 1) / 2}, 3*time.Second); err != nil {
			t.Fatalf("after %d sessions on each listener: %v", i+1, err)
		}
	}

	out := d.reload(func(c *daemonConf) { c.Listeners = reloadBackendsListeners(h2.Addr.String(), h3.Addr.String(), true) })
	t.Logf("rmqlb reload:\n%s", strings.TrimSpace(out))
	for _, want := range []string{"check of amqp/b removed", "check of amqp/c added"} {
		if !strings.Contains(out, want) {
			t.Errorf("reload output lacks %q", want)
		}
	}
	if strings.Contains(out, "refused") || strings.Contains(out, "restart") {
		t.Errorf("reload refused something or wants a restart:\n%s", out)
	}

	// amqp: b's two sessions closed, a's two carry on. The closing is
	// waited for on every session at once: the sessions that stay use
	// the whole wait.
	ended := make([]bool, len(amqp))
	var wg sync.WaitGroup
	for i, s := range amqp {
		wg.Go(func() { ended[i] = s.closedWithin(3 * time.Second) })
	}
	wg.Wait()
	var closed, alive []int
	for i, s := range amqp {
		if ended[i] {
			closed = append(closed, i)
		} else if err := s.roundTrip("after the reload"); err != nil {
			t.Errorf("amqp session %d, neither closed nor alive: %v", i, err)
		} else {
			alive = append(alive, i)
		}
	}
	t.Logf("amqp sessions after the reload: closed %v, alive %v", closed, alive)
	if len(closed) != 2 || len(alive) != 2 {
		t.Errorf("amqp: sessions %v closed and %v alive, want two each (b's closed, a's alive)", closed, alive)
	}
	// keep: kb's session stays with its removed backend, ka's too.
	for i, s := range keep {
		if err := s.roundTrip("after the reload"); err != nil {
			t.Errorf("keep session %d after the reload (keep-sessions): %v", i, err)
		}
	}
	// b is gone from the status with its sessions; kb is listed as a
	// removed backend with the sessions it keeps.
	if err := waitActive(d, map[string]int{"a": 2, "b": -1, "ka": 2, "kb": 2}, 3*time.Second); err != nil {
		t.Error(err)
	}
	if s, err := d.status(); err != nil {
		t.Error(err)
	} else if kb := findObject(s.raw.(map[string]any)["listeners"], func(m map[string]any) bool {
		removed, _ := m["removed_backends"].([]any)
		return m["name"] == "keep" && len(removed) == 1 && removed[0].(map[string]any)["name"] == "kb"
	}); kb == nil {
		t.Errorf("status does not list kb as the removed backend of listener keep: %v", s.raw)
	}
	// The session log of the removal: b's two sessions, logged as they
	// end (the clients may see the close first).
	var logged []string
	_ = waitFor(3*time.Second, func() (bool, error) {
		logged = nil
		for _, line := range strings.Split(d.proc.Output(), "\n") {
			if strings.Contains(line, "session ended") && strings.Contains(line, `"backend_removed"`) {
				logged = append(logged, line)
			}
		}
		return len(logged) >= 2, nil
	})
	if len(logged) != 2 || !strings.Contains(strings.Join(logged, "\n"), `"backend": "b"`) ||
		strings.Contains(strings.Join(logged, "\n"), `"backend": "a"`) {
		t.Errorf("session log of the removal: %d lines, want b's two:\n%s", len(logged), strings.Join(logged, "\n"))
	}

	// c is served once its first check passed: new sessions go to a and c.
	if err := d.waitBackendsUp(5*time.Second, "c"); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		amqp = append(amqp, dialEcho(t, client, amqpAP))
	}
	if err := waitActive(d, map[string]int{"a": 4, "c": 2}, 3*time.Second); err != nil {
		t.Errorf("four new sessions over a and c: %v", err)
	}
	for _, i := range alive {
		if err := amqp[i].roundTrip("at the end"); err != nil {
			t.Errorf("amqp session %d of a at the end: %v", i, err)
		}
	}
	for i, s := range keep {
		if err := s.roundTrip("at the end"); err != nil {
			t.Errorf("keep session %d at the end: %v", i, err)
		}
	}
	if n := transitions() - before; n != 0 {
		t.Errorf("%d VRRP state changes during the reload, want 0", n)
	}
	if err := stableHolder(l, h1, 300*time.Millisecond); err != nil {
		t.Error(err)
	}
}
