package vrrp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestMachineReconfigure(t *testing.T) {
	const (
		mdi    = 3609375 * time.Microsecond   // prio 100, 1s
		mdi150 = 3414062500 * time.Nanosecond // prio 150, 1s
	)
	sec := time.Second
	vip2 := netip.MustParsePrefix("10.99.0.101/24")
	master := []step{
		{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
		{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{100}, Acquire{}}, state: StateMaster, deadline: mdi + sec},
	}
	backup := []step{
		{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
		{at: sec, ev: advertFrom(higher, 120, sec), state: StateBackup, deadline: sec + mdi},
	}
	with := func(base []step, more ...step) []step { return append(base[:len(base):len(base)], more...) }
	runMachineCases(t, []machineCase{
		{
			name: "master: a new priority is advertised at once, no transition",
			cfg:  testConfig(),
			steps: with(master,
				step{at: mdi + sec/2, ev: Reconfigure{testConfig(func(c *Config) { c.Priority = 50 })}, want: []Action{SendAdvert{50}},
					state: StateMaster, deadline: mdi + sec/2 + sec},
				step{at: mdi + sec/2 + sec, ev: Tick{}, want: []Action{PeriodicAdvert{50}}, state: StateMaster},
			),
		},
		{
			name: "master: a new interval is advertised at once and used",
			cfg:  testConfig(),
			steps: with(master,
				step{at: mdi + sec/2, ev: Reconfigure{testConfig(func(c *Config) { c.AdvertInterval = 300 * time.Millisecond })}, want: []Action{SendAdvert{100}},
					state: StateMaster, deadline: mdi + sec/2 + 300*time.Millisecond},
			),
		},
		{
			name: "master: preempt and checksum changes send nothing",
			cfg:  testConfig(),
			steps: with(master,
				step{at: mdi + sec/2, ev: Reconfigure{testConfig(func(c *Config) { c.Preempt = false; c.Checksum = ChecksumRFC9568 })},
					state: StateMaster, deadline: mdi + sec},
			),
		},
		{
			name: "master: a lower-priority advert is still discarded after the priority was lowered above it",
			cfg:  testConfig(),
			steps: with(master,
				step{at: mdi + sec/2, ev: Reconfigure{testConfig(func(c *Config) { c.Priority = 90 })}, want: []Action{SendAdvert{90}}},
				step{at: mdi + sec/2 + 1, ev: advertFrom(higher, 80, sec), state: StateMaster},
				// A higher one makes it yield, as always.
				step{at: mdi + sec/2 + 2, ev: advertFrom(higher, 95, sec), want: []Action{change(StateMaster, StateBackup, "priority 95, ours 90"), Release{}}},
			),
		},
		{
			name: "backup: raised above the master with preempt, it preempts at its timer",
			cfg:  testConfig(),
			steps: with(backup,
				// The timer set by the last accepted advert runs on the
				// Master_Down_Interval of priority 150 now.
				step{at: 3 * sec / 2, ev: Reconfigure{testConfig(func(c *Config) { c.Priority = 150 })}, state: StateBackup, deadline: sec + mdi150},
				// Adverts of 120 are discarded now; that timer fires.
				step{at: 2 * sec, ev: advertFrom(higher, 120, sec), state: StateBackup, deadline: sec + mdi150},
				step{at: 3 * sec, ev: advertFrom(higher, 120, sec), state: StateBackup, deadline: sec + mdi150},
				step{at: sec + mdi150, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "preempting lower priority master"), SendAdvert{150}, Acquire{}}},
			),
		},
		{
			name: "backup: raised above the master without preempt, it stays BACKUP",
			cfg:  testConfig(func(c *Config) { c.Preempt = false }),
			steps: with(backup,
				step{at: 3 * sec / 2, ev: Reconfigure{testConfig(func(c *Config) { c.Priority = 150; c.Preempt = false })}, state: StateBackup},
				step{at: 2 * sec, ev: advertFrom(higher, 120, sec), state: StateBackup, deadline: 2*sec + 3*sec + 414062500*time.Nanosecond},
			),
		},
		{
			name: "backup: preempt turned on while the master is lower: preempts",
			cfg:  testConfig(func(c *Config) { c.Preempt = false }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 50, sec), deadline: sec + mdi},
				{at: 2 * sec, ev: Reconfigure{testConfig()}, deadline: sec + mdi},
				{at: 3 * sec, ev: advertFrom(higher, 50, sec), deadline: sec + mdi},
				{at: sec + mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "preempting"), SendAdvert{100}, Acquire{}}},
			},
		},
		{
			name: "addresses: the previous list is accepted until the new one is heard",
			cfg:  testConfig(),
			steps: with(backup,
				step{at: 2 * sec, ev: Reconfigure{testConfig(func(c *Config) { c.VIPs = []netip.Prefix{vip, vip2} })}, deadline: sec + mdi},
				step{at: 2 * sec, ev: advertFrom(higher, 120, sec), deadline: 2*sec + mdi}, // old list: accepted
				step{at: 3 * sec, ev: Advert{Src: higher, Packet: &Packet{Version: 3, VRID: 7, Priority: 120, AdvertInterval: sec,
					Addrs: []netip.Addr{vip2.Addr(), vip.Addr()}}}, deadline: 3*sec + mdi},
				// The previous list once the new one was heard: it shares
				// an address, accepted and reported.
				step{at: 4 * sec, ev: advertFrom(higher, 120, sec), want: []Action{differ(higher, 120, 4*sec, 4*sec, 1, vip.Addr())}, deadline: 4*sec + mdi},
			),
		},
		{
			name: "v2: the previous interval is accepted until the new one is heard",
			cfg:  testConfig(func(c *Config) { c.Version = 2 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: Reconfigure{testConfig(func(c *Config) { c.Version = 2; c.AdvertInterval = 2 * sec })}},
				// The master's interval, old or new, is the one used.
				{at: 2 * sec, ev: v2Advert(higher, 120, sec, ""), deadline: 2*sec + 3*sec + 609375*time.Microsecond},
				{at: 3 * sec, ev: v2Advert(higher, 120, 2*sec, ""), deadline: 3*sec + 6*sec + 609375*time.Microsecond},
				{at: 4 * sec, ev: v2Advert(higher, 120, sec, ""), want: []Action{refusedDrop(ErrIntervalMismatch, higher, 120)}},
			},
		},
		{
			name: "v2: a new password is used for what is sent and expected",
			cfg:  testConfig(func(c *Config) { c.Version = 2; c.AuthPass = "old" }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: Reconfigure{testConfig(func(c *Config) { c.Version = 2; c.AuthPass = "new" })}},
				{at: 2 * sec, ev: v2Advert(higher, 120, sec, "old"), want: []Action{refusedDrop(ErrAuthMismatch, higher, 120)}},
				{at: 2 * sec, ev: v2Advert(higher, 120, sec, "new"), state: StateBackup, deadline: 2*sec + mdi},
			},
		},
	})
}

// TestReconfigureSimulated runs two machines against each other and
// changes priorities as a reload does: the VIP moves as the new
// priorities and preempt settings say, with exactly the transitions the
// move needs (two) and none otherwise, and never a moment without a
// holder.
func TestReconfigureSimulated(t *testing.T) {
	cfg := func(prio uint8, preempt bool) Config {
		return testConfig(func(c *Config) { c.Priority = prio; c.Preempt = preempt })
	}
	for _, tc := range []struct {
		name       string
		a, b       Config // a (higher) starts as master
		who        string // "a" or "b": whose priority changes
		to         Config
		wantMaster string
		wantMoves  int
	}{
		{"master lowered below a preempting backup", cfg(150, true), cfg(100, true), "a", cfg(50, true), "b", 1},
		{"master lowered, still above the backup", cfg(150, true), cfg(100, true), "a", cfg(120, true), "a", 0},
		{"master lowered below a backup that may not preempt", cfg(150, true), cfg(100, false), "a", cfg(50, true), "a", 0},
		{"backup raised above the master, preempt on", cfg(150, true), cfg(100, true), "b", cfg(200, true), "b", 1},
		{"backup raised above the master, preempt off", cfg(150, true), cfg(100, false), "b", cfg(200, false), "a", 0},
		{"backup raised, still below", cfg(150, true), cfg(100, true), "b", cfg(140, true), "a", 0},
		{"backup turns preempt off", cfg(150, true), cfg(100, true), "b", cfg(100, false), "a", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewMachine(tc.a, higher)
			b := NewMachine(tc.b, lower)
			a.WatchAnnouncements()
			b.WatchAnnouncements()
			net := &simNet{t: t, ms: map[netip.Addr]*Machine{higher: a, lower: b}, now: t0, announce: true}
			net.step(higher, Startup{})
			net.runUntil(t0.Add(5 * time.Second))
			net.step(lower, Startup{})
			net.runUntil(net.now.Add(10 * time.Second))
			if a.State() != StateMaster || b.State() != StateBackup {
				t.Fatalf("after start: a %v b %v", a.State(), b.State())
			}
			before := net.transitions[higher] + net.transitions[lower]
			net.minHolders = 1
			who := map[string]netip.Addr{"a": higher, "b": lower}[tc.who]
			net.step(who, Reconfigure{tc.to})
			net.runUntil(net.now.Add(30 * time.Second))
			master := "b"
			if a.State() == StateMaster {
				master = "a"
			}
			if master != tc.wantMaster || net.holders() != 1 {
				t.Fatalf("master %s (a %v, b %v), holders %v; want %s alone", master, a.State(), b.State(), net.holds, tc.wantMaster)
			}
			if n := net.transitions[higher] + net.transitions[lower] - before; n != 2*tc.wantMoves {
				t.Fatalf("%d transitions, want %d", n, 2*tc.wantMoves)
			}
			if net.zeroHolders {
				t.Fatal("the VIP was held by nobody for a moment")
			}
		})
	}
}

// TestInstanceUpdate: Update validates, refuses what only a restart can
// change, and applies the rest at Run's next step: the snapshot has the
// new settings, a MASTER advertises a new priority at once, with no
// transition.
func TestInstanceUpdate(t *testing.T) {
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)
	const mdi = 3609375 * time.Microsecond
	h.becomeMaster(t, mdi)
	transitions := h.inst.Snapshot().Counters.Transitions

	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{testConfig(func(c *Config) { c.Priority = 0 }), "priority: must be 1..255"},
		{testConfig(func(c *Config) { c.Interface = "veth1" }), "interface changed from veth0 to veth1: needs a restart"},
		{testConfig(func(c *Config) { c.VRID = 8 }), "virtual_router_id changed from 7 to 8"},
		{testConfig(func(c *Config) { c.Version = 2 }), "version changed from 3 to 2"},
		{testConfig(func(c *Config) { c.Name = "other" }), "name changed"},
		// The fake transport cannot change its peers.
		{testConfig(func(c *Config) { c.UnicastPeers = []netip.Addr{higher} }), "unicast_src or unicast_peers"},
	} {
		checked := h.inst.CheckUpdate(c.cfg)
		err := h.inst.Update(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Update: %v, want an error with %q", err, c.want)
		}
		if fmt.Sprint(checked) != fmt.Sprint(err) {
			t.Errorf("CheckUpdate: %v, Update: %v", checked, err)
		}
		if strings.Contains(c.want, "restart") && !errors.Is(err, ErrNeedsRestart) {
			t.Errorf("Update: %v does not wrap ErrNeedsRestart", err)
		}
	}
	vip2 := netip.MustParsePrefix("10.99.0.101/24")
	if err := h.inst.CheckUpdate(testConfig(func(c *Config) { c.Priority = 120; c.Preempt = false; c.VIPs = []netip.Prefix{vip, vip2} })); err != nil {
		t.Fatalf("CheckUpdate of what Update takes: %v", err)
	}
	if err := h.inst.Update(testConfig(func(c *Config) { c.Priority = 120; c.Preempt = false; c.VIPs = []netip.Prefix{vip, vip2} })); err != nil {
		t.Fatal(err)
	}
	p := tr.nextSent(t)
	if p.Priority != 120 || len(p.Addrs) != 2 || p.Addrs[1] != vip2.Addr() {
		t.Fatalf("advert after the update %+v", p)
	}
	s := h.inst.Snapshot()
	if s.ConfiguredPriority != 120 || s.EffectivePriority != 120 || s.Preempt || len(s.VIPs) != 2 || s.State != StateMaster ||
		s.Counters.Transitions != transitions {
		t.Fatalf("snapshot after the update %+v", s)
	}
	if n := len(h.logs.FilterMessage("VRRP settings changed").All()); n != 1 {
		t.Fatalf("%d log lines of the change", n)
	}
}

// TestIPv4TransportReconfigureNetns: a transport moves from multicast to
// unicast and back, and changes its source, while open.
func TestIPv4TransportReconfigureNetns(t *testing.T) {
	n := newTestNetns(t)
	a := n.transport(t, 0, TransportConfig{})
	b := n.transport(t, 1, TransportConfig{})
	p := Packet{Version: 3, VRID: 9, Priority: 150, AdvertInterval: 100 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("10.99.7.100")}}
	send := func(from *IPv4Transport) []byte {
		t.Helper()
		var last []byte
		for _, dst := range from.Destinations() {
			msg, err := p.Marshal(from.Source(), dst, ChecksumPseudoHeader)
			if err != nil {
				t.Fatal(err)
			}
			if err := from.WriteTo(msg, dst); err != nil {
				t.Fatal(err)
			}
			last = msg
		}
		return last
	}
	recv := func(to *IPv4Transport, want []byte, src, dst netip.Addr) {
		t.Helper()
		got, ri, ok := readOne(t, to, 2*time.Second)
		if !ok || !bytes.Equal(got, want) || ri.Src != src || ri.Dst != dst {
			t.Fatalf("received %x %+v (%v), want %x from %v to %v", got, ri, ok, want, src, dst)
		}
	}

	// Unicast on a, with a source given.
	var err error
	n.in(t, 0, func() {
		err = a.Reconfigure(TransportConfig{Interface: n.ifname[0], Source: n.addr[0], Peers: []netip.Addr{n.addr[1]}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := a.Destinations(); len(d) != 1 || d[0] != n.addr[1] {
		t.Fatalf("destinations after the switch to unicast: %v", d)
	}
	recv(b, send(a), n.addr[0], n.addr[1])

	// A second address on a's interface becomes its source.
	second := netip.MustParseAddr("10.99.7.11")
	run(t, "ip", "-n", n.ns[0], "addr", "add", second.String()+"/24", "dev", n.ifname[0])
	n.in(t, 0, func() {
		err = a.Reconfigure(TransportConfig{Interface: n.ifname[0], Source: second, Peers: []netip.Addr{n.addr[1]}})
	})
	if err != nil || a.Source() != second {
		t.Fatalf("source %v after Reconfigure: %v", a.Source(), err)
	}
	recv(b, send(a), second, n.addr[1])

	// b goes unicast too and a goes back to multicast (and to its first
	// address): a hears b's unicast. Then b returns to multicast and
	// hears a's.
	n.in(t, 1, func() { err = b.Reconfigure(TransportConfig{Interface: n.ifname[1], Peers: []netip.Addr{n.addr[0]}}) })
	if err != nil {
		t.Fatal(err)
	}
	n.in(t, 0, func() { err = a.Reconfigure(TransportConfig{Interface: n.ifname[0]}) })
	if err != nil {
		t.Fatal(err)
	}
	if d := a.Destinations(); len(d) != 1 || d[0] != MulticastIPv4 || a.Source() != n.addr[0] {
		t.Fatalf("after the switch back to multicast: destinations %v, source %v", d, a.Source())
	}
	recv(a, send(b), n.addr[1], n.addr[0])
	n.in(t, 1, func() { err = b.Reconfigure(TransportConfig{Interface: n.ifname[1]}) })
	if err != nil {
		t.Fatal(err)
	}
	recv(b, send(a), n.addr[0], MulticastIPv4)

	if err := a.Reconfigure(TransportConfig{Interface: "other0"}); err == nil {
		t.Fatal("Reconfigure to another interface: no error")
	}
}
