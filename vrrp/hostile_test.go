package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// forgedInterval is the longest VRRPv3 interval, what a hostile or broken
// master can announce to make backups wait two minutes before taking over.
const forgedInterval = 40950 * time.Millisecond

func TestMachineClampsAdoptedInterval(t *testing.T) {
	sec := time.Second
	// Priority 100: Skew_Time = 156/256 of the interval.
	skew := func(iv time.Duration) time.Duration { return 156 * iv / 256 }
	mdi := func(iv time.Duration) time.Duration { return 3*iv + skew(iv) }
	runMachineCases(t, []machineCase{
		{
			name: "backup adopts at most 3 * advert_interval by default and takes over after 3 * that",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, deadline: mdi(sec)},
				{at: sec, ev: advertFrom(higher, 200, forgedInterval),
					want:  []Action{IntervalClamped{From: higher, Advertised: forgedInterval, Used: 3 * sec}},
					state: StateBackup, deadline: sec + mdi(3*sec)},
				// The forger goes silent: the backup takes over after
				// about 11 s, not 3 * 40.95 s.
				{at: sec + mdi(3*sec), ev: Tick{},
					want:  []Action{change(StateBackup, StateMaster, "silent"), SendAdvert{100}, Acquire{}},
					state: StateMaster, deadline: sec + mdi(3*sec) + sec},
			},
		},
		{
			name: "an interval within the bound is adopted as RFC 5798 says, without clamping",
			cfg:  testConfig(),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 200, 3*sec), state: StateBackup, deadline: sec + mdi(3*sec)},
				{at: 2 * sec, ev: advertFrom(higher, 200, sec/2), state: StateBackup, deadline: 2*sec + mdi(sec/2)},
			},
		},
		{
			name: "configured maximum",
			cfg:  testConfig(func(c *Config) { c.MaxAdoptedInterval = 5 * sec }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 200, forgedInterval),
					want: []Action{IntervalClamped{From: higher, Advertised: forgedInterval, Used: 5 * sec}}, deadline: sec + mdi(5*sec)},
			},
		},
		{
			name: "a master beaten by a higher priority clamps what it adopts",
			cfg:  testConfig(func(c *Config) { c.Priority = 255 }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateMaster, ""), SendAdvert{255}, Acquire{}}},
				{at: sec / 2, ev: advertFrom(higher, 255, forgedInterval),
					want: []Action{
						IntervalClamped{From: higher, Advertised: forgedInterval, Used: 3 * sec},
						change(StateMaster, StateBackup, "higher priority master"), Release{},
					},
					// Priority 255: Skew_Time = 1/256 of the interval.
					state: StateBackup, deadline: sec/2 + 9*sec + 3*sec/256},
			},
		},
		{
			name: "preempt_delay: the lower priority master's interval is clamped while accepted",
			cfg:  testConfig(func(c *Config) { c.PreemptDelay = 20 * sec }),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
				{at: sec, ev: advertFrom(higher, 50, forgedInterval),
					want: []Action{IntervalClamped{From: higher, Advertised: forgedInterval, Used: 3 * sec}}, deadline: sec + mdi(3*sec)},
			},
		},
	})
}

// A forged advert with the longest interval and top priority makes the
// master step down; the group has a master again within 3 * the bound,
// and the clamping is counted, in the snapshot and the metric.
func TestInstanceClampsForgedInterval(t *testing.T) {
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(func(c *Config) { c.Priority = 254 }), tr)
	mdi := 3*time.Second + 2*time.Second/256 // priority 254, 1 s
	h.becomeMaster(t, mdi)

	forger := netip.MustParseAddr("10.99.0.66")
	tr.inject(t, advertBytes(t, forger, 255, forgedInterval), forger, MulticastIPv4, 255)
	if c := h.owner.next(t); c != "release" {
		t.Fatalf("owner call %q", c)
	}
	// Master down interval from the clamped 3 s: 9 s + Skew_Time.
	down := t0.Add(mdi + 9*time.Second + 3*2*time.Second/256)
	h.clock.WaitArmed(t, down)
	s := h.inst.Snapshot()
	if s.State != StateBackup || s.MasterAdverInterval != 3*time.Second || s.MaxAdoptedInterval != 3*time.Second ||
		s.Counters.IntervalClamped != 1 {
		t.Fatalf("after the forged advert: state %v, master interval %v, max %v, clamped %d",
			s.State, s.MasterAdverInterval, s.MaxAdoptedInterval, s.Counters.IntervalClamped)
	}
	if got := metricValue(t, h.reg, "rmqlb_vrrp_interval_clamped_total", ""); got != 1 {
		t.Fatalf("clamped metric %v", got)
	}
	if n := h.logs.FilterMessageSnippet("max_adopted_advert_interval").Len(); n != 1 {
		t.Fatalf("%d clamping log lines, want 1", n)
	}
	// The forger is silent: master again at the bounded deadline.
	h.clock.Set(down)
	if p := tr.nextSent(t); p.Priority != 254 {
		t.Fatalf("advert %+v", p)
	}
	if c := h.owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q", c)
	}
	h.wantState(t, StateMaster)
}

// In multicast mode, allowed_peers keeps every other sender out: a host
// that is not on the list cannot take the VIP with a higher priority,
// and its adverts are counted as not_peer; a listed peer is heard.
func TestInstanceAllowedPeersMulticast(t *testing.T) {
	peer := netip.MustParseAddr("10.99.0.2")
	intruder := netip.MustParseAddr("10.99.0.66")
	tr := newFakeTransport(local) // multicast
	h := startInstance(t, testConfig(func(c *Config) { c.AllowedPeers = []netip.Addr{peer} }), tr)
	h.becomeMaster(t, 3609375*time.Microsecond)

	// The intruder sends with priority 255, in VRRPv2 it would also know
	// the password (it travels in clear): dropped, we stay master.
	for n := 1; n <= 3; n++ {
		tr.inject(t, advertBytes(t, intruder, 255, time.Second), intruder, MulticastIPv4, 255)
		h.waitSnapshot(t, "not_peer drop", func(s Snapshot) bool { return s.Counters.Dropped[DropNotPeer] == uint64(n) })
	}
	h.wantState(t, StateMaster)
	if s := h.inst.Snapshot(); len(s.AllowedPeers) != 1 || s.AllowedPeers[0] != peer || s.Master != nil {
		t.Fatalf("snapshot allowed %v, master %+v", s.AllowedPeers, s.Master)
	}
	if got := metricValue(t, h.reg, "rmqlb_vrrp_adverts_dropped_total", DropNotPeer); got != 3 {
		t.Fatalf("not_peer metric %v", got)
	}
	// The listed peer with a higher priority is obeyed.
	tr.inject(t, advertBytes(t, peer, 200, time.Second), peer, MulticastIPv4, 255)
	if c := h.owner.next(t); c != "release" {
		t.Fatalf("owner call %q", c)
	}
	h.waitSnapshot(t, "backup", func(s Snapshot) bool { return s.State == StateBackup })
}
