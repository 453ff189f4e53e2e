package vrrp

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	local  = netip.MustParseAddr("10.99.0.5")
	lower  = netip.MustParseAddr("10.99.0.3") // lower address than local
	higher = netip.MustParseAddr("10.99.0.7") // higher address than local
	vip    = netip.MustParsePrefix("10.99.0.100/24")
)

func testConfig(mod ...func(*Config)) Config {
	c := Config{
		Name: "test", Interface: "veth0", VRID: 7, Priority: 100, Version: 3,
		AdvertInterval: time.Second, Preempt: true, VIPs: []netip.Prefix{vip},
	}
	for _, f := range mod {
		f(&c)
	}
	return c
}

// advertFrom returns a valid advert for testConfig's virtual router.
func advertFrom(src netip.Addr, prio uint8, iv time.Duration) Advert {
	return Advert{Src: src, Packet: &Packet{Version: 3, VRID: 7, Priority: prio, AdvertInterval: iv,
		Addrs: []netip.Addr{vip.Addr()}}}
}

func v2Advert(src netip.Addr, prio uint8, iv time.Duration, pass string) Advert {
	p := &Packet{Version: 2, VRID: 7, Priority: prio, AdvertInterval: iv, Addrs: []netip.Addr{vip.Addr()}}
	if pass != "" {
		p.AuthType, p.AuthData = AuthTypeSimple, SimpleAuthData(pass)
	}
	return Advert{Src: src, Packet: p}
}

// differ is the AddrsDiffer of an advert from src at priority prio with
// addrs, heard at at (since t0), the count-th such, its sender and list
// first heard at since (new when since is at).
func differ(src netip.Addr, prio uint8, at, since time.Duration, count uint64, addrs ...netip.Addr) AddrsDiffer {
	return AddrsDiffer{Info: DifferingAddrs{From: src, Priority: prio, Addrs: addrs, Since: t0.Add(since), At: t0.Add(at), Count: count}, New: at == since}
}

// refusedDrop is the Drop of an advert of the machine's VRID from src at
// priority prio.
func refusedDrop(err error, src netip.Addr, prio uint8) Drop {
	return Drop{Err: err, Peer: true, From: src, Priority: prio}
}

// step is one step of a machine scenario.
type step struct {
	at time.Duration // since t0
	ev Event
	// want are the actions expected, with StateChange reasons compared
	// as substrings and Drop errors with errors.Is; nil means none.
	want []Action
	// state is the state expected after the step (StateInit is skipped
	// unless checkInit).
	state     State
	checkInit bool
	// deadline, if non-zero, is the expected NextDeadline (since t0).
	deadline time.Duration
	noTimer  bool // expect NextDeadline to report no timer
}

// machineCase is a scenario: steps fed to a new machine for cfg.
type machineCase struct {
	name  string
	cfg   Config
	steps []step
}

// runMachineCases runs each scenario as a subtest.
func runMachineCases(t *testing.T, cases []machineCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runSteps(t, NewMachine(c.cfg, local), c.steps)
		})
	}
}

func runSteps(t *testing.T, m *Machine, steps []step) {
	t.Helper()
	for n, s := range steps {
		got := m.Step(t0.Add(s.at), s.ev)
		if !actionsMatch(got, s.want) {
			t.Fatalf("step %d (%T at %v): actions\n%#v\nwant\n%#v", n, s.ev, s.at, got, s.want)
		}
		if (s.state != StateInit || s.checkInit) && m.State() != s.state {
			t.Fatalf("step %d (%T at %v): state %v, want %v", n, s.ev, s.at, m.State(), s.state)
		}
		dl, ok := m.NextDeadline()
		if s.deadline != 0 && (!ok || !dl.Equal(t0.Add(s.deadline))) {
			t.Fatalf("step %d (%T at %v): deadline %v (%v), want %v", n, s.ev, s.at, dl.Sub(t0), ok, s.deadline)
		}
		if s.noTimer && ok {
			t.Fatalf("step %d (%T at %v): timer at %v, want none", n, s.ev, s.at, dl.Sub(t0))
		}
	}
}

func actionsMatch(got, want []Action) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		switch w := want[i].(type) {
		case StateChange:
			g, ok := got[i].(StateChange)
			if !ok || g.From != w.From || g.To != w.To || g.Adopted != w.Adopted || !strings.Contains(g.Reason, w.Reason) {
				return false
			}
		case Drop:
			g, ok := got[i].(Drop)
			if !ok || !errors.Is(g.Err, w.Err) || g.Peer != w.Peer || (w.Peer && (g.From != w.From || g.Priority != w.Priority)) {
				return false
			}
		case HandoverDone:
			// Peer, Planned and Announced compared; Outcome as a
			// substring; the times by the steps' own checks.
			g, ok := got[i].(HandoverDone)
			if !ok || g.Info.Peer != w.Info.Peer || g.Info.Planned != w.Info.Planned ||
				g.Info.Announced != w.Info.Announced || !strings.Contains(g.Info.Outcome, w.Info.Outcome) {
				return false
			}
		default:
			if !reflect.DeepEqual(got[i], want[i]) {
				return false
			}
		}
	}
	return true
}

func change(from, to State, reason string) StateChange {
	return StateChange{From: from, To: to, Reason: reason}
}

func TestTimers(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		learn      time.Duration // a VRRPv3 master's interval heard, 0 for none
		skew, down time.Duration
	}{
		// RFC 5798 6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256.
		{"v3 prio 100 1s", testConfig(), 0, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{"v3 prio 254 100ms", testConfig(func(c *Config) { c.Priority = 254; c.AdvertInterval = 100 * time.Millisecond }), 0,
			781250 * time.Nanosecond, 300781250 * time.Nanosecond},
		{"v3 prio 1 100ms", testConfig(func(c *Config) { c.Priority = 1; c.AdvertInterval = 100 * time.Millisecond }), 0,
			99609375 * time.Nanosecond, 399609375 * time.Nanosecond},
		// The master's interval is learnt and used.
		{"v3 learnt 200ms", testConfig(func(c *Config) { c.AdvertInterval = 100 * time.Millisecond }), 200 * time.Millisecond,
			121875 * time.Microsecond, 721875 * time.Microsecond},
		// RFC 3768 6.1: Skew_Time = (256 - Priority) / 256 seconds.
		{"v2 prio 100 5s", testConfig(func(c *Config) { c.Version = 2; c.AdvertInterval = 5 * time.Second }), 0,
			609375 * time.Microsecond, 15609375 * time.Microsecond},
		{"v2 prio 150 1s", testConfig(func(c *Config) { c.Version = 2; c.Priority = 150 }), 0,
			414062500 * time.Nanosecond, 3414062500 * time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(tt.cfg, local)
			m.Step(t0, Startup{})
			if tt.learn != 0 {
				m.Step(t0, advertFrom(higher, 200, tt.learn))
			}
			if got := m.SkewTime(); got != tt.skew {
				t.Errorf("SkewTime = %v, want %v", got, tt.skew)
			}
			if got := m.MasterDownInterval(); got != tt.down {
				t.Errorf("MasterDownInterval = %v, want %v", got, tt.down)
			}
			if dl, _ := m.NextDeadline(); !dl.Equal(t0.Add(tt.down)) {
				t.Errorf("master down timer at %v, want %v", dl.Sub(t0), tt.down)
			}
		})
	}
}

func TestMachine(t *testing.T) {
	const mdi = 3609375 * time.Microsecond // prio 100, 1s
	const skew = 609375 * time.Microsecond
	sec := time.Second
	runMachineCases(t, []machineCase{
		{
			name: "startup backup then master after master down interval",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, state: StateBackup, deadline: mdi},
				{at: mdi - 1, ev: Tick{}, state: StateBackup, deadline: mdi},
				{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "master down"), SendAdvert{100}, Acquire{}},
					state: StateMaster, deadline: mdi + sec},
				{at: mdi + sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster, deadline: mdi + 2*sec},
				{at: mdi + 2*sec + 10*time.Millisecond, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, deadline: mdi + 3*sec},
			},
		},
		{
			name: "address owner becomes master at once",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateMaster, "address owner"), SendAdvert{255}, Acquire{}},
					state: StateMaster, deadline: sec},
			},
		},
		{
			name: "adopted startup is master at once, advertising the configured priority",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{Adopt: Adoption{State: StateMaster}}, want: []Action{StateChange{From: StateInit, To: StateMaster, Reason: "adopted", Adopted: true}, SendAdvert{100}, Acquire{}},
					state: StateMaster, deadline: sec},
				{at: sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster, deadline: 2 * sec},
			},
		},
		{
			name: "adopted master with the link down is FAULT and releases the predecessor's VIPs",
			cfg:  testConfig(),
			steps: []step{
				{ev: LinkDown{}, state: StateInit, checkInit: true},
				{ev: Startup{Adopt: Adoption{State: StateMaster}}, want: []Action{change(StateInit, StateFault, "link down"), Release{}}, state: StateFault, noTimer: true},
			},
		},
		{
			name: "adopted backup starts as usual, marked adopted",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{Adopt: Adoption{State: StateBackup}}, want: []Action{StateChange{From: StateInit, To: StateBackup, Reason: "startup", Adopted: true}}, state: StateBackup, deadline: mdi},
			},
		},
		{
			name: "backup accepts adverts from a higher priority master and resets its timer",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}, state: StateBackup},
				{at: sec, ev: advertFrom(lower, 150, sec), state: StateBackup, deadline: sec + mdi},
				{at: 2 * sec, ev: advertFrom(lower, 150, sec), state: StateBackup, deadline: 2*sec + mdi},
				{at: 2*sec + mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "silent"), SendAdvert{100}, Acquire{}}},
			},
		},
		{
			name: "backup with equal priority accepts the master (no tie-break in backup)",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(lower, 100, sec), state: StateBackup, deadline: sec + mdi},
			},
		},
		{
			name: "priority 0 from master: backup takes over after skew time",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 150, sec), deadline: sec + mdi},
				{at: 2 * sec, ev: advertFrom(higher, 0, sec), state: StateBackup, deadline: 2*sec + skew},
				{at: 2*sec + skew, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "priority 0"), SendAdvert{100}, Acquire{}}},
			},
		},
		{
			name: "shutdown of a master sends priority 0 and releases",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateMaster, ""), SendAdvert{255}, Acquire{}}},
				{at: sec / 2, ev: Shutdown{}, want: []Action{SendAdvert{0}, change(StateMaster, StateInit, "shutdown"), Release{}},
					state: StateInit, checkInit: true, noTimer: true},
				{at: 2 * sec, ev: Tick{}, state: StateInit, checkInit: true, noTimer: true},
			},
		},
		{
			name: "shutdown of a backup sends nothing",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: Shutdown{}, want: []Action{change(StateBackup, StateInit, "shutdown")}, state: StateInit, checkInit: true, noTimer: true},
			},
		},
		{
			name: "preempt (default): lower priority master is discarded and preempted",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: mdi},
				{at: 2 * sec, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: mdi},
				{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "preempting lower priority master 10.99.0.7"), SendAdvert{100}, Acquire{}}},
			},
		},
		{
			name: "nopreempt: lower priority master is accepted",
			cfg:  testConfig(func(c *Config) { c.Preempt = false }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: sec + mdi},
				{at: 2 * sec, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: 2*sec + mdi},
				{at: 3 * sec, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: 3*sec + mdi},
				{at: 3*sec + mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "silent"), SendAdvert{100}, Acquire{}}},
			},
		},
		{
			name: "preempt_delay: lower priority master accepted until the delay ends",
			cfg:  testConfig(func(c *Config) { c.PreemptDelay = 5 * sec }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 50, sec), deadline: sec + mdi},
				{at: 2 * sec, ev: advertFrom(higher, 50, sec), deadline: 2*sec + mdi},
				{at: 3 * sec, ev: advertFrom(higher, 50, sec), deadline: 6 * sec}, // capped at 1s + 5s
				{at: 5 * sec, ev: advertFrom(higher, 50, sec), deadline: 6 * sec},
				{at: 6 * sec, ev: advertFrom(higher, 50, sec), deadline: 6 * sec}, // discarded now
				{at: 6 * sec, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "preempt_delay"), SendAdvert{100}, Acquire{}}},
			},
		},
		{
			name: "preempt_delay restarts after a higher priority master was heard",
			cfg:  testConfig(func(c *Config) { c.PreemptDelay = 5 * sec }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 50, sec), deadline: sec + mdi},
				{at: 2 * sec, ev: advertFrom(higher, 150, sec), deadline: 2*sec + mdi},
				{at: 3 * sec, ev: advertFrom(higher, 50, sec), deadline: 3*sec + mdi},
				{at: 4 * sec, ev: advertFrom(higher, 50, sec), deadline: 4*sec + mdi},
				{at: 6 * sec, ev: advertFrom(higher, 50, sec), deadline: 8 * sec},
			},
		},
		{
			name: "master: higher priority advert makes it backup and adopts the v3 interval",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateMaster, ""), SendAdvert{255}, Acquire{}}},
				// An address owner is beaten by another owner with a higher address only.
				{at: sec / 2, ev: advertFrom(higher, 255, 200*time.Millisecond),
					want:  []Action{change(StateMaster, StateBackup, "higher priority master 10.99.0.7"), Release{}},
					state: StateBackup, deadline: sec/2 + 600*time.Millisecond + 781250*time.Nanosecond},
			},
		},
		{
			name: "master: lower priority advert is discarded (RFC 5798 6.4.3)",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateMaster, ""), SendAdvert{255}, Acquire{}}},
				{at: sec / 2, ev: advertFrom(higher, 254, sec), state: StateMaster, deadline: sec},
				{at: sec, ev: Tick{}, want: []Action{PeriodicAdvert{255}}, state: StateMaster, deadline: 2 * sec},
			},
		},
		{
			name: "master: a lower priority master (healed split brain) is reported and makes it announce the VIPs again, rate limited",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{100}, Acquire{}}},
				{at: mdi + sec, ev: advertFrom(higher, 50, sec), state: StateMaster}, // within MDI of becoming master
				{at: 2 * mdi, ev: advertFrom(higher, 50, sec), want: []Action{LowerMaster{From: higher, Priority: 50}, SendAdvert{100}, Acquire{}}, state: StateMaster},
				{at: 2*mdi + sec, ev: advertFrom(higher, 50, sec), state: StateMaster},
				{at: 3 * mdi, ev: advertFrom(higher, 50, sec), want: []Action{LowerMaster{From: higher, Priority: 50}, SendAdvert{100}, Acquire{}}, state: StateMaster, deadline: mdi + sec}, // timers untouched
			},
		},
		{
			name: "master: priority 0 advert is answered at once",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateMaster, ""), SendAdvert{255}, Acquire{}}},
				{at: sec / 2, ev: advertFrom(higher, 0, sec), want: []Action{SendAdvert{255}}, state: StateMaster, deadline: sec/2 + sec},
			},
		},
		{
			name: "master: equal priority, sender with the higher primary address wins",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{100}, Acquire{}}},
				{at: mdi + 1, ev: advertFrom(lower, 100, sec), state: StateMaster, deadline: mdi + sec},
				{at: mdi + 2, ev: advertFrom(higher, 100, sec),
					want: []Action{change(StateMaster, StateBackup, "higher priority master 10.99.0.7"), Release{}}, state: StateBackup},
			},
		},
		{
			name: "v2: wrong password, other interval, no auth are dropped; right one accepted",
			cfg:  testConfig(func(c *Config) { c.Version = 2; c.AuthPass = "passwd" }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: v2Advert(higher, 150, sec, "wrong"), want: []Action{refusedDrop(ErrAuthMismatch, higher, 150)}, deadline: mdi},
				{at: sec, ev: v2Advert(higher, 150, sec, ""), want: []Action{refusedDrop(ErrAuthMismatch, higher, 150)}},
				{at: sec, ev: v2Advert(higher, 150, sec, "passwd2"), want: []Action{refusedDrop(ErrAuthMismatch, higher, 150)}},
				{at: sec, ev: v2Advert(higher, 150, 2*sec, "passwd"), want: []Action{refusedDrop(ErrIntervalMismatch, higher, 150)}},
				{at: sec, ev: v2Advert(higher, 150, sec, "passwd"), deadline: sec + mdi},
			},
		},
		{
			name: "v2 without password drops simple-auth adverts",
			cfg:  testConfig(func(c *Config) { c.Version = 2 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: v2Advert(higher, 150, sec, "passwd"), want: []Action{refusedDrop(ErrAuthMismatch, higher, 150)}},
				{at: sec, ev: v2Advert(higher, 150, sec, ""), deadline: sec + 3609375*time.Microsecond},
			},
		},
		{
			name: "wrong VRID, version and addresses are dropped",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: Advert{Src: higher, Packet: &Packet{Version: 3, VRID: 8, Priority: 150, AdvertInterval: sec, Addrs: []netip.Addr{vip.Addr()}}},
					want: []Action{Drop{Err: ErrWrongVRID}}},
				{at: sec, ev: v2Advert(higher, 150, sec, ""), want: []Action{refusedDrop(ErrBadVersion, higher, 150)}},
				{at: sec, ev: Advert{Src: higher, Packet: &Packet{Version: 3, VRID: 7, Priority: 150, AdvertInterval: sec,
					Addrs: []netip.Addr{netip.MustParseAddr("10.99.0.101")}}}, want: []Action{refusedDrop(ErrAddressMismatch, higher, 150)}},
				{at: sec, ev: Advert{Src: higher, Packet: &Packet{Version: 3, VRID: 7, Priority: 150, AdvertInterval: sec,
					Addrs: []netip.Addr{netip.MustParseAddr("10.99.0.101"), netip.MustParseAddr("10.99.0.102")}}},
					want: []Action{refusedDrop(ErrAddressMismatch, higher, 150)}},
				{at: sec, ev: Advert{Src: higher, Packet: &Packet{Version: 3, VRID: 7, Priority: 150, AdvertInterval: sec}},
					want: []Action{refusedDrop(ErrAddressMismatch, higher, 150)}, deadline: mdi},
				// An address owner's advert is accepted whatever its
				// addresses, and reported when they differ.
				{at: sec, ev: Advert{Src: higher, Packet: &Packet{Version: 3, VRID: 7, Priority: 255, AdvertInterval: sec}},
					want: []Action{differ(higher, 255, sec, sec, 1)}, deadline: sec + mdi},
			},
		},
		{
			name: "link down: master goes to FAULT and releases; link up starts again",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateMaster, ""), SendAdvert{255}, Acquire{}}},
				{at: sec / 2, ev: LinkDown{}, want: []Action{change(StateMaster, StateFault, "link down"), Release{}}, state: StateFault, noTimer: true},
				{at: sec, ev: Tick{}, state: StateFault, noTimer: true},
				{at: sec, ev: advertFrom(higher, 0, sec), state: StateFault, noTimer: true},
				{at: 2 * sec, ev: LinkUp{}, want: []Action{change(StateFault, StateMaster, "link up"), SendAdvert{255}, Acquire{}}, state: StateMaster},
			},
		},
		{
			name: "link down: backup goes to FAULT, back to BACKUP with a fresh timer",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: LinkDown{}, want: []Action{change(StateBackup, StateFault, "link down")}, state: StateFault, noTimer: true},
				{at: 10 * sec, ev: LinkUp{}, want: []Action{change(StateFault, StateBackup, "link up")}, state: StateBackup, deadline: 10*sec + mdi},
			},
		},
		{
			name: "link down before startup: FAULT",
			cfg:  testConfig(),
			steps: []step{
				{ev: LinkDown{}, state: StateInit, checkInit: true},
				{ev: Startup{}, want: []Action{change(StateInit, StateFault, "link down")}, state: StateFault, noTimer: true},
				{at: sec, ev: LinkUp{}, want: []Action{change(StateFault, StateBackup, "link up")}, deadline: sec + mdi},
			},
		},
		{
			name: "priority adjust: master advertises the new priority at once",
			cfg:  testConfig(func(c *Config) { c.Priority = 150 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: 4 * sec, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{150}, Acquire{}}, deadline: 5 * sec},
				{at: 4*sec + sec/2, ev: SetPriorityAdjust{Delta: -60}, want: []Action{SendAdvert{90}}, deadline: 5*sec + sec/2},
				{at: 4*sec + sec/2, ev: SetPriorityAdjust{Delta: -60}}, // no change, no advert
				{at: 5 * sec, ev: SetPriorityAdjust{Delta: -1000}, want: []Action{SendAdvert{1}}},
				{at: 5 * sec, ev: SetPriorityAdjust{Delta: 1000}, want: []Action{SendAdvert{254}}},
				{at: 5 * sec, ev: SetPriorityAdjust{Delta: 0}, want: []Action{SendAdvert{150}}},
			},
		},
		{
			name: "priority adjust: an address owner is never adjusted",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateMaster, ""), SendAdvert{255}, Acquire{}}},
				{at: sec / 2, ev: SetPriorityAdjust{Delta: -100}},
			},
		},
	})
}

// TestTrackedPriorityDropLosesVIP runs two machines against each other: the
// master's effective priority drops below the backup's, the backup preempts
// and the old master releases the VIP.
func TestTrackedPriorityDropLosesVIP(t *testing.T) {
	a := NewMachine(testConfig(func(c *Config) { c.Priority = 150 }), higher)
	b := NewMachine(testConfig(func(c *Config) { c.Priority = 100 }), lower)
	net := &simNet{t: t, ms: map[netip.Addr]*Machine{higher: a, lower: b}, now: t0}
	net.step(higher, Startup{})
	net.step(lower, Startup{})
	net.runUntil(t0.Add(10 * time.Second))
	if a.State() != StateMaster || b.State() != StateBackup {
		t.Fatalf("after start: a %v b %v", a.State(), b.State())
	}
	if net.holders() != 1 || !net.holds[higher] {
		t.Fatalf("after start: holders %v", net.holds)
	}
	net.step(higher, SetPriorityAdjust{Delta: -60}) // 90 < 100
	net.runUntil(net.now.Add(10 * time.Second))
	if a.State() != StateBackup || b.State() != StateMaster {
		t.Fatalf("after the priority drop: a %v b %v", a.State(), b.State())
	}
	if net.holders() != 1 || !net.holds[lower] {
		t.Fatalf("after the priority drop: holders %v", net.holds)
	}
	if a.EffectivePriority() != 90 {
		t.Fatalf("a effective priority %d", a.EffectivePriority())
	}
	// The check recovers: a (150 again, preempt) takes the VIP back.
	net.step(higher, SetPriorityAdjust{Delta: 0})
	net.runUntil(net.now.Add(10 * time.Second))
	if a.State() != StateMaster || b.State() != StateBackup || net.holders() != 1 || !net.holds[higher] {
		t.Fatalf("after recovery: a %v b %v holders %v", a.State(), b.State(), net.holds)
	}
}

// simNet connects machines by delivering every SendAdvert to the others at
// once, and tracks who holds the VIP.
type simNet struct {
	t     *testing.T
	ms    map[netip.Addr]*Machine
	now   time.Time
	holds map[netip.Addr]bool
	// announce makes every Acquire announce the VIP to the others
	// (PeerAnnounced), as a gratuitous ARP does.
	announce bool
	// minHolders > 0 makes a Release that leaves nobody holding the
	// VIP set zeroHolders.
	minHolders  int
	zeroHolders bool
	// transitions counts the state changes of each machine.
	transitions map[netip.Addr]int
}

func (n *simNet) holders() int {
	c := 0
	for _, h := range n.holds {
		if h {
			c++
		}
	}
	return c
}

// advertise delivers an advert of who with priority prio to the others.
func (n *simNet) advertise(who netip.Addr, prio uint8) {
	for other := range n.ms {
		if other != who {
			n.step(other, advertFrom(who, prio, time.Second))
		}
	}
}

func (n *simNet) step(who netip.Addr, ev Event) {
	if n.holds == nil {
		n.holds = map[netip.Addr]bool{}
		n.transitions = map[netip.Addr]int{}
	}
	m := n.ms[who]
	for _, a := range m.Step(n.now, ev) {
		switch a := a.(type) {
		case SendAdvert:
			n.advertise(who, a.Priority)
		case PeriodicAdvert:
			n.advertise(who, a.Priority)
		case Acquire:
			n.holds[who] = true
			for other := range n.ms {
				if other != who && n.announce {
					n.step(other, PeerAnnounced{Addr: vip.Addr()})
				}
			}
		case Release:
			n.holds[who] = false
			if n.minHolders > 0 && n.holders() < n.minHolders {
				n.zeroHolders = true
			}
		case StateChange:
			n.transitions[who]++
		case Drop:
			n.t.Fatalf("%v dropped an advert: %v", who, a.Err)
		}
	}
}

// runUntil fires the machines' timers in time order until end.
func (n *simNet) runUntil(end time.Time) {
	for {
		var next time.Time
		var who netip.Addr
		for a, m := range n.ms {
			if dl, ok := m.NextDeadline(); ok && (next.IsZero() || dl.Before(next) || dl.Equal(next) && a.Less(who)) {
				next, who = dl, a
			}
		}
		if next.IsZero() || next.After(end) {
			n.now = end
			return
		}
		n.now = next
		n.step(who, Tick{})
	}
}

// A released master advertises priority 0 at every interval until a
// backup takes over. A backup whose Skew_Time is longer than that
// interval (it computes it with its own, longer interval: it has heard
// no other advert since it started) takes over Skew_Time after the first
// of them: the next ones do not put its timer off, or it would never
// take over and the release would never hand the VIPs over.
func TestRepeatedPriorityZeroDoesNotPutOffTakeover(t *testing.T) {
	const ms = time.Millisecond
	cfg := testConfig(func(c *Config) { c.Priority = 92; c.AdvertInterval = 200 * ms })
	skew := time.Duration(256-92) * 200 * ms / 256 // 128.125ms, more than the master's 100ms
	runMachineCases(t, []machineCase{{
		name: "released master at a shorter interval",
		cfg:  cfg,
		steps: []step{
			{at: 0, ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, state: StateBackup},
			{at: 100 * ms, ev: advertFrom(higher, 0, 100*ms), state: StateBackup, deadline: 100*ms + skew},
			{at: 200 * ms, ev: advertFrom(higher, 0, 100*ms), state: StateBackup, deadline: 100*ms + skew},
			{at: 100*ms + skew, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "priority 0"), SendAdvert{92}, Acquire{}}, state: StateMaster},
		},
	}, {
		name: "a priority of its own again restarts the wait",
		cfg:  cfg,
		steps: []step{
			{at: 0, ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, state: StateBackup},
			{at: 100 * ms, ev: advertFrom(higher, 0, 100*ms), state: StateBackup, deadline: 100*ms + skew},
			{at: 200 * ms, ev: advertFrom(higher, 150, 100*ms), state: StateBackup, deadline: 200*ms + 3*100*ms + time.Duration(256-92)*100*ms/256},
			{at: 300 * ms, ev: advertFrom(higher, 0, 100*ms), state: StateBackup, deadline: 300*ms + time.Duration(256-92)*100*ms/256},
		},
	}})
}
