package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// handedOver is the HandoverDone a step expects (see actionsMatch).
func handedOver(peer netip.Addr, planned, announced bool, outcome string) HandoverDone {
	return HandoverDone{Info: Handover{Peer: peer, Planned: planned, Announced: announced, Outcome: outcome}}
}

// runWatchingCases runs scenarios on machines whose owner reports
// announcements (WatchAnnouncements).
func runWatchingCases(t *testing.T, cases []machineCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMachine(c.cfg, local)
			m.WatchAnnouncements()
			runSteps(t, m, c.steps)
		})
	}
}

func TestMachineRelease(t *testing.T) {
	const mdi = 3609375 * time.Microsecond // prio 100, 1s
	const skew = 609375 * time.Microsecond
	// Released, the priority is 0: Skew_Time is one whole interval and
	// Master_Down_Interval four, longer than any eligible backup's.
	const relMDI = 4 * time.Second
	sec := time.Second
	a := vip.Addr()
	// master is the start of the scenarios on a MASTER: BACKUP at 0,
	// MASTER at mdi, adverts every second from then.
	master := []step{
		{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, state: StateBackup},
		{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{100}, Acquire{}}, state: StateMaster, deadline: mdi + sec},
	}
	// released is master then StepDown half an interval later: priority
	// 0 at once and at every interval, the VIPs kept.
	released := append(master[:2:2],
		step{at: mdi + sec/2, ev: StepDown{Reason: "maintenance"}, want: []Action{SendAdvert{0}}, state: StateMaster, deadline: mdi + sec/2 + sec},
		step{at: mdi + sec/2 + sec, ev: Tick{}, want: []Action{PeriodicAdvert{0}}, state: StateMaster, deadline: mdi + sec/2 + 2*sec},
	)
	heard := mdi + 2*sec // the new master's first advert
	with := func(base []step, more ...step) []step { return append(base[:len(base):len(base)], more...) }
	runWatchingCases(t, []machineCase{
		{
			name: "master: keeps the VIPs after the new master's advert until it announced them",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "released: handed over to 10.99.0.7 (priority 100)"), StopAnnouncing{}},
					state: StateBackup, deadline: heard + relMDI},
				// Its adverts do not end the wait; its announcement does.
				step{at: heard + sec, ev: advertFrom(higher, 100, sec), state: StateBackup, deadline: heard + relMDI},
				step{at: heard + sec + 1, ev: PeerAnnounced{Addr: a}, want: []Action{handedOver(higher, true, true, "10.99.0.7 announced the VIPs"), Release{}},
					state: StateBackup, deadline: heard + sec + relMDI},
				// Still released: a master that goes silent is replaced
				// by this one only as the last resort.
				step{at: heard + sec + relMDI, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "last resort"), SendAdvert{0}, Acquire{}}, state: StateMaster},
			),
		},
		{
			name: "master: the new master's announcement processed before its advert",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard - sec/10, ev: PeerAnnounced{Addr: a}, state: StateMaster},
				// Quiet first; once quiet (and its own
				// announcements until then stepped, none here) the
				// announcement counts.
				step{at: heard, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "handed over"), StopAnnouncing{}},
					state: StateBackup, deadline: heard + relMDI},
				step{at: heard, ev: AnnouncingStopped{}, want: []Action{handedOver(higher, true, true, "had announced"), Release{}},
					state: StateBackup, deadline: heard + relMDI},
			),
		},
		{
			name: "master: its own announcement after the new master's: keeps the VIPs until the new master announces again",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard - sec/10, ev: PeerAnnounced{Addr: a}, state: StateMaster},
				// Ours went out after it: clients point at us again.
				step{at: heard - sec/20, ev: OwnAnnounced{Addr: a}, state: StateMaster},
				step{at: heard, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "handed over"), StopAnnouncing{}},
					state: StateBackup, deadline: heard + relMDI},
				step{at: heard, ev: AnnouncingStopped{}, state: StateBackup, deadline: heard + relMDI},
				step{at: heard + sec/10, ev: PeerAnnounced{Addr: a}, want: []Action{handedOver(higher, true, true, "10.99.0.7 announced the VIPs"), Release{}},
					state: StateBackup},
			),
		},
		{
			name: "master: its own announcement going out as it went quiet: keeps the VIPs",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard - sec/10, ev: PeerAnnounced{Addr: a}, state: StateMaster},
				step{at: heard, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "handed over"), StopAnnouncing{}},
					state: StateBackup, deadline: heard + relMDI},
				// Reported before StopAnnouncing returned.
				step{at: heard, ev: OwnAnnounced{Addr: a}, state: StateBackup},
				step{at: heard, ev: AnnouncingStopped{}, state: StateBackup, deadline: heard + relMDI},
				step{at: heard + sec/10, ev: PeerAnnounced{Addr: a}, want: []Action{handedOver(higher, true, true, "10.99.0.7 announced the VIPs"), Release{}},
					state: StateBackup},
			),
		},
		{
			name: "master: another host's announcement after its own counts",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard - sec/10, ev: OwnAnnounced{Addr: a}, state: StateMaster},
				step{at: heard - sec/20, ev: PeerAnnounced{Addr: a}, state: StateMaster},
				step{at: heard, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "handed over"), StopAnnouncing{}},
					state: StateBackup},
				step{at: heard, ev: AnnouncingStopped{}, want: []Action{handedOver(higher, true, true, "had announced"), Release{}}, state: StateBackup},
			),
		},
		{
			name: "master: an announcement older than an interval before the advert does not count",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard - sec - 1, ev: PeerAnnounced{Addr: a}, state: StateMaster},
				step{at: heard, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "handed over"), StopAnnouncing{}}, state: StateBackup},
			),
		},
		{
			name: "master: the new master never announces: released after a master down interval",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "handed over"), StopAnnouncing{}}, deadline: heard + relMDI},
				step{at: heard + sec, ev: advertFrom(higher, 100, sec), deadline: heard + relMDI},
				step{at: heard + 2*sec, ev: advertFrom(higher, 100, sec), deadline: heard + relMDI},
				step{at: heard + relMDI, ev: Tick{}, want: []Action{handedOver(higher, true, false, "did not announce"), Release{}},
					state: StateBackup, deadline: heard + 2*sec + relMDI},
			),
		},
		{
			name: "master: released with nobody to take over keeps the VIPs; Ready advertises its priority again",
			cfg:  testConfig(),
			steps: with(released,
				step{at: mdi + sec/2 + 2*sec, ev: Tick{}, want: []Action{PeriodicAdvert{0}}, state: StateMaster},
				step{at: mdi + 3*sec, ev: Ready{}, want: []Action{SendAdvert{100}}, state: StateMaster, deadline: mdi + 4*sec},
				step{at: mdi + 4*sec, ev: Tick{}, want: []Action{PeriodicAdvert{100}}, state: StateMaster},
			),
		},
		{
			name: "master: the release period ends (--for)",
			cfg:  testConfig(),
			steps: with(master,
				step{at: mdi + sec/2, ev: StepDown{Until: t0.Add(mdi + 2*sec)}, want: []Action{SendAdvert{0}}, deadline: mdi + sec/2 + sec},
				step{at: mdi + sec/2 + sec, ev: Tick{}, want: []Action{PeriodicAdvert{0}}, deadline: mdi + 2*sec},
				// The priority back at once, the instance's own advert
				// (not the advert timer's, which a sender would send).
				step{at: mdi + 2*sec, ev: Tick{}, want: []Action{SendAdvert{100}}, state: StateMaster, deadline: mdi + 3*sec},
			),
		},
		{
			name: "master: another released master with a higher address wins; one with a lower address is answered",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard, ev: advertFrom(lower, 0, sec), want: []Action{SendAdvert{0}}, state: StateMaster, deadline: heard + sec},
				step{at: heard + 1, ev: advertFrom(higher, 0, sec), want: []Action{change(StateMaster, StateBackup, "handed over to 10.99.0.7 (priority 0)"), StopAnnouncing{}}, state: StateBackup},
			),
		},
		{
			name: "preempted master (not released) waits for the announcement too",
			cfg:  testConfig(),
			steps: with(master,
				// A last advert first: the new master, hearing it,
				// announces the VIPs again if it has not just now.
				step{at: mdi + sec/2, ev: advertFrom(higher, 150, sec), want: []Action{SendAdvert{100}, change(StateMaster, StateBackup, "higher priority master 10.99.0.7 (priority 150, ours 100)"), StopAnnouncing{}},
					state: StateBackup, deadline: mdi + sec/2 + mdi},
				step{at: mdi + sec/2 + 1, ev: PeerAnnounced{Addr: a}, want: []Action{handedOver(higher, false, true, "announced"), Release{}}, state: StateBackup},
			),
		},
		{
			name: "lingering backup becomes MASTER again (the new master leaves): keeps the VIPs",
			cfg:  testConfig(),
			steps: with(master,
				step{at: mdi + sec/2, ev: advertFrom(higher, 150, sec), want: []Action{SendAdvert{100}, change(StateMaster, StateBackup, "higher priority"), StopAnnouncing{}}},
				step{at: mdi + sec, ev: advertFrom(higher, 0, sec), state: StateBackup, deadline: mdi + sec + skew},
				step{at: mdi + sec + skew, ev: Tick{}, want: []Action{handedOver(higher, false, false, "MASTER again"),
					change(StateBackup, StateMaster, "priority 0"), SendAdvert{100}, Acquire{}}, state: StateMaster},
			),
		},
		{
			// A healed split brain long after an earlier handover: the
			// announcements that ended that one are not this one's,
			// so the last advert goes out before yielding.
			name: "master handed over before: the last advert goes out again at the next handover",
			cfg:  testConfig(),
			steps: with(master,
				step{at: mdi + sec/2, ev: advertFrom(higher, 150, sec), want: []Action{SendAdvert{100}, change(StateMaster, StateBackup, "higher priority"), StopAnnouncing{}}},
				step{at: mdi + sec/2 + 1, ev: PeerAnnounced{Addr: a}, want: []Action{handedOver(higher, false, true, "announced"), Release{}}, state: StateBackup},
				step{at: mdi + sec, ev: advertFrom(higher, 0, sec), state: StateBackup, deadline: mdi + sec + skew},
				step{at: mdi + sec + skew, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "priority 0"), SendAdvert{100}, Acquire{}}, state: StateMaster},
				step{at: mdi + sec + skew + time.Hour, ev: advertFrom(higher, 150, sec),
					want:  []Action{SendAdvert{100}, change(StateMaster, StateBackup, "higher priority"), StopAnnouncing{}},
					state: StateBackup, deadline: mdi + sec + skew + time.Hour + mdi},
				// Its announcement of this handover ends the wait.
				step{at: mdi + sec + skew + time.Hour + 1, ev: PeerAnnounced{Addr: a}, want: []Action{handedOver(higher, false, true, "announced"), Release{}}, state: StateBackup},
			),
		},
		{
			name: "lingering backup: link down releases at once",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "handed over"), StopAnnouncing{}}},
				step{at: heard + 1, ev: LinkDown{}, want: []Action{change(StateBackup, StateFault, "link down"), handedOver(higher, true, false, "link down"), Release{}},
					state: StateFault, noTimer: true},
			),
		},
		{
			name: "lingering backup: shutdown releases at once",
			cfg:  testConfig(),
			steps: with(released,
				step{at: heard, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "handed over"), StopAnnouncing{}}},
				step{at: heard + 1, ev: Shutdown{}, want: []Action{change(StateBackup, StateInit, "shutdown"), handedOver(higher, true, false, "shutdown"), Release{}},
					state: StateInit, checkInit: true, noTimer: true},
			),
		},
		{
			name: "announcements while MASTER change nothing",
			cfg:  testConfig(),
			steps: with(master,
				step{at: mdi + sec/2, ev: PeerAnnounced{Addr: a}, state: StateMaster, deadline: mdi + sec},
			),
		},
		{
			name: "backup: released, it never preempts; priority 0 does not make it take over",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}, deadline: mdi},
				{at: sec / 2, ev: StepDown{}, state: StateBackup, deadline: sec/2 + relMDI},
				{at: sec, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: sec + relMDI},
				{at: 2 * sec, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: 2*sec + relMDI},
				{at: 3 * sec, ev: advertFrom(higher, 0, sec), state: StateBackup, deadline: 3*sec + relMDI},
				// Everyone else is gone: the last resort, advertising 0.
				{at: 3*sec + relMDI, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "last resort"), SendAdvert{0}, Acquire{}}, state: StateMaster},
				{at: 4*sec + relMDI, ev: Tick{}, want: []Action{PeriodicAdvert{0}}, state: StateMaster},
				// An eligible router comes back (it took over on our 0):
				// hand over to it.
				{at: 4*sec + relMDI + 1, ev: advertFrom(higher, 50, sec), want: []Action{change(StateMaster, StateBackup, "handed over to 10.99.0.7 (priority 50)"), StopAnnouncing{}}, state: StateBackup},
			},
		},
		{
			name: "backup: a pending preemption is dropped by StepDown",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 50, sec), deadline: mdi}, // discarded: preempting at mdi
				{at: 2 * sec, ev: StepDown{}, deadline: 2*sec + relMDI},
				{at: mdi, ev: Tick{}, state: StateBackup, deadline: 2*sec + relMDI},
			},
		},
		{
			name: "backup: Ready after the master's priority 0 takes over after Skew_Time",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec / 2, ev: StepDown{}},
				{at: sec, ev: advertFrom(higher, 150, sec), deadline: sec + relMDI},
				{at: 2 * sec, ev: advertFrom(higher, 0, sec), deadline: 2*sec + relMDI}, // it is leaving too
				{at: 2*sec + sec/2, ev: Ready{}, state: StateBackup, deadline: 2*sec + sec/2 + skew},
				{at: 2*sec + sec/2 + skew, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "sent priority 0"), SendAdvert{100}, Acquire{}}},
			},
		},
		{
			name: "backup: the release period ends, preemption resumes",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec / 2, ev: StepDown{Until: t0.Add(3 * sec)}, deadline: 3 * sec},
				{at: sec, ev: advertFrom(higher, 50, sec), deadline: 3 * sec},
				{at: 2 * sec, ev: advertFrom(higher, 50, sec), deadline: 3 * sec},
				// Eligible again: the timer the last advert armed runs on
				// the Master_Down_Interval of priority 100 now.
				{at: 3 * sec, ev: Tick{}, state: StateBackup, deadline: 2*sec + mdi},
				{at: 4 * sec, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: 2*sec + mdi}, // discarded again
				{at: 2*sec + mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "preempting lower priority master"), SendAdvert{100}, Acquire{}}},
			},
		},
		{
			name: "address owner released starts as BACKUP",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: StepDown{}, state: StateInit, checkInit: true, noTimer: true},
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, state: StateBackup, deadline: relMDI},
				{at: sec, ev: Ready{}, state: StateBackup},
			},
		},
	})
}

// TestMachineReleaseWithoutAnnouncements: an Owner that reports no
// announcements gets the VIPs released at once, as before.
func TestMachineReleaseWithoutAnnouncements(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	sec := time.Second
	runMachineCases(t, []machineCase{{
		name: "released master hands over and releases at once",
		cfg:  testConfig(),
		steps: []step{
			{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
			{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, ""), SendAdvert{100}, Acquire{}}},
			{at: mdi + 1, ev: StepDown{}, want: []Action{SendAdvert{0}}},
			{at: mdi + sec, ev: advertFrom(higher, 100, sec), want: []Action{change(StateMaster, StateBackup, "handed over"), Release{}}, state: StateBackup},
		},
	}})
	m := NewMachine(testConfig(), local)
	m.Step(t0, Startup{})
	m.Step(t0.Add(mdi), Tick{})
	m.Step(t0.Add(mdi+1), StepDown{Reason: "maintenance"})
	if r, until := m.Released(); !r || !until.IsZero() {
		t.Fatalf("Released() = %v, %v", r, until)
	}
	if since, why := m.ReleasedSince(); !since.Equal(t0.Add(mdi+1)) || why != "maintenance" {
		t.Fatalf("ReleasedSince() = %v, %q", since, why)
	}
	if p := m.EffectivePriority(); p != 0 {
		t.Fatalf("effective priority %d while released", p)
	}
	m.Step(t0.Add(mdi+sec), advertFrom(higher, 100, sec))
	h := m.LastHandover()
	if h == nil || h.Peer != higher || !h.Planned || !h.Requested.Equal(t0.Add(mdi+1)) || !h.PeerHeard.Equal(t0.Add(mdi+sec)) ||
		!h.Done.Equal(t0.Add(mdi+sec)) || h.Announced {
		t.Fatalf("handover %+v", h)
	}
	m.Step(t0.Add(mdi+2*sec), Ready{})
	if r, _ := m.Released(); r || m.EffectivePriority() != 100 {
		t.Fatalf("after Ready: released %v, priority %d", r, m.EffectivePriority())
	}
}

// TestHandoverSimulated runs two machines against each other, with every
// Acquire announcing the VIP to the other (a gratuitous ARP): released,
// the master hands over and the VIP is never held by nobody; the released
// router stays BACKUP; after Ready (higher priority, preempt) it takes the
// VIP back, and the old master keeps it until then too.
func TestHandoverSimulated(t *testing.T) {
	a := NewMachine(testConfig(func(c *Config) { c.Priority = 150 }), higher)
	b := NewMachine(testConfig(func(c *Config) { c.Priority = 100 }), lower)
	a.WatchAnnouncements()
	b.WatchAnnouncements()
	net := &simNet{t: t, ms: map[netip.Addr]*Machine{higher: a, lower: b}, now: t0, announce: true}
	net.step(higher, Startup{})
	net.step(lower, Startup{})
	net.runUntil(t0.Add(10 * time.Second))
	if a.State() != StateMaster || b.State() != StateBackup || net.holders() != 1 || !net.holds[higher] {
		t.Fatalf("after start: a %v b %v holders %v", a.State(), b.State(), net.holds)
	}
	net.minHolders = 1
	net.step(higher, StepDown{})
	net.runUntil(net.now.Add(30 * time.Second))
	if a.State() != StateBackup || b.State() != StateMaster || net.holders() != 1 || !net.holds[lower] {
		t.Fatalf("after the release: a %v b %v holders %v", a.State(), b.State(), net.holds)
	}
	if h := a.LastHandover(); h == nil || !h.Announced || h.Peer != lower {
		t.Fatalf("a's handover %+v", h)
	}
	net.step(higher, Ready{})
	net.runUntil(net.now.Add(30 * time.Second))
	if a.State() != StateMaster || b.State() != StateBackup || net.holders() != 1 || !net.holds[higher] {
		t.Fatalf("after ready: a %v b %v holders %v", a.State(), b.State(), net.holds)
	}
	if h := b.LastHandover(); h == nil || !h.Announced || h.Planned || h.Peer != higher {
		t.Fatalf("b's handover %+v", h)
	}
	if net.zeroHolders {
		t.Fatal("the VIP was held by nobody for a moment")
	}
	if n := net.transitions[higher] + net.transitions[lower]; n != 7 {
		t.Fatalf("%d transitions (%v), want 7: three at start, two per move", n, net.transitions)
	}
}

// TestMachineReleaseSince: a release that carries on one made before
// keeps its start; a start to come, or none, is the step's time; a
// StepDown while released keeps the start of the release.
func TestMachineReleaseSince(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	at := t0.Add(mdi + time.Second)
	for _, c := range []struct {
		name  string
		since time.Time
		want  time.Time
	}{
		{"none", time.Time{}, at},
		{"before", t0.Add(-time.Hour), t0.Add(-time.Hour)},
		{"to come", at.Add(time.Minute), at},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := NewMachine(testConfig(), local)
			m.Step(t0, Startup{})
			m.Step(at, StepDown{Reason: "maintenance", Since: c.since})
			if since, why := m.ReleasedSince(); !since.Equal(c.want) || why != "maintenance" {
				t.Fatalf("ReleasedSince() = %v, %q, want %v", since, why, c.want)
			}
			m.Step(at.Add(time.Second), StepDown{Reason: "longer", Until: at.Add(time.Hour)})
			if since, why := m.ReleasedSince(); !since.Equal(c.want) || why != "longer" {
				t.Fatalf("after a second StepDown: ReleasedSince() = %v, %q, want %v", since, why, c.want)
			}
		})
	}
}
