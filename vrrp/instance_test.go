package vrrp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// instanceHarness runs an Instance with fakes.
type instanceHarness struct {
	inst  *Instance
	clock *clock.Fake
	tr    *fakeTransport
	owner interface{ next(*testing.T) string }
	logs  *observer.ObservedLogs
	reg   *prometheus.Registry
	stop  context.CancelFunc
	done  chan struct{} // closed when Run returned
	err   error         // of Run, once done is closed
}

func startInstance(t *testing.T, cfg Config, tr *fakeTransport) *instanceHarness {
	t.Helper()
	return startInstanceWith(t, cfg, tr, newFakeOwner())
}

// startInstanceWith is startInstance with an owner: a *fakeOwner, or one
// that embeds it.
func startInstanceWith(t *testing.T, cfg Config, tr *fakeTransport, owner interface {
	Owner
	next(*testing.T) string
}) *instanceHarness {
	t.Helper()
	h := newInstanceHarness(t, cfg, tr, owner)
	h.run(t)
	return h
}

// newInstanceHarness is startInstanceWith without Run: the test calls
// h.run.
func newInstanceHarness(t *testing.T, cfg Config, tr *fakeTransport, owner interface {
	Owner
	next(*testing.T) string
}, mods ...func(*Options)) *instanceHarness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	h := &instanceHarness{clock: clock.NewFake(t0), tr: tr, owner: owner, logs: logs,
		reg: prometheus.NewRegistry(), done: make(chan struct{})}
	opt := Options{Transport: tr, Owner: owner, Clock: h.clock, Logger: zap.New(core), Registerer: h.reg}
	for _, mod := range mods {
		mod(&opt)
	}
	inst, err := NewInstance(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	h.inst = inst
	return h
}

// run runs the instance; the test's cleanup stops it.
func (h *instanceHarness) run(t *testing.T) {
	t.Helper()
	inst := h.inst
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.err = inst.Run(ctx); close(h.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return")
		}
	})
}

// shutdown cancels Run and waits for it.
func (h *instanceHarness) shutdown(t *testing.T) {
	t.Helper()
	h.stop()
	select {
	case <-h.done:
		if h.err != nil {
			t.Fatalf("Run: %v", h.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// waitSnapshot waits (bounded, in real time) until cond holds for the
// instance's snapshot. Run re-arms or stops its timer after every event, so
// the fake clock's change notification wakes it.
func (h *instanceHarness) waitSnapshot(t *testing.T, what string, cond func(Snapshot) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		ch := h.clock.Changed()
		if cond(h.inst.Snapshot()) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; snapshot %+v", what, h.inst.Snapshot())
		}
	}
}

func (h *instanceHarness) wantState(t *testing.T, s State) {
	t.Helper()
	if got := h.inst.Snapshot().State; got != s {
		t.Fatalf("state %v, want %v", got, s)
	}
}

// becomeMaster lets the master down interval mdi pass from t0 with nobody
// speaking and checks the instance became MASTER: one advert, one Acquire
// and the advert timer armed. It returns the advert sent.
func (h *instanceHarness) becomeMaster(t *testing.T, mdi time.Duration) *Packet {
	t.Helper()
	h.clock.WaitArmed(t, t0.Add(mdi))
	h.clock.Advance(mdi)
	p := h.tr.nextSent(t)
	if c := h.owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q", c)
	}
	h.clock.WaitArmed(t, t0.Add(mdi+h.inst.cfg.AdvertInterval))
	h.wantState(t, StateMaster)
	return p
}

// advertBytes marshals an advert of testConfig's virtual router from src.
func advertBytes(t *testing.T, src netip.Addr, prio uint8, iv time.Duration) []byte {
	t.Helper()
	p := Packet{Version: 3, VRID: 7, Priority: prio, AdvertInterval: iv, Addrs: []netip.Addr{vip.Addr()}}
	b, err := p.Marshal(src, MulticastIPv4, ChecksumPseudoHeader)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInstanceBackupMasterShutdown(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	const skew = 609375 * time.Microsecond
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)

	// Start: BACKUP, master down timer armed.
	h.clock.WaitArmed(t, t0.Add(mdi))
	h.wantState(t, StateBackup)
	tr.noneSent(t)

	// Nobody speaks: MASTER after the master down interval.
	h.clock.Advance(mdi)
	if p := tr.nextSent(t); p.Priority != 100 || p.VRID != 7 || p.Version != 3 || p.AdvertInterval != time.Second {
		t.Fatalf("advert %+v", p)
	}
	if c := h.owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q", c)
	}
	now := t0.Add(mdi)
	h.clock.WaitArmed(t, now.Add(time.Second))
	h.wantState(t, StateMaster)

	// Adverts every second.
	h.clock.Advance(time.Second)
	now = now.Add(time.Second)
	if p := tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	h.clock.WaitArmed(t, now.Add(time.Second))

	// A higher priority master appears: BACKUP, release.
	tr.inject(t, advertBytes(t, higher, 200, time.Second), higher, MulticastIPv4, 255)
	if c := h.owner.next(t); c != "release" {
		t.Fatalf("owner call %q", c)
	}
	h.clock.WaitArmed(t, now.Add(mdi))
	h.wantState(t, StateBackup)
	snap := h.inst.Snapshot()
	if snap.Master == nil || snap.Master.Addr != higher || snap.Master.Priority != 200 {
		t.Fatalf("master heard %+v", snap.Master)
	}

	// It stops (priority 0): MASTER after Skew_Time only.
	tr.inject(t, advertBytes(t, higher, 0, time.Second), higher, MulticastIPv4, 255)
	h.clock.WaitArmed(t, now.Add(skew))
	h.clock.Advance(skew)
	if p := tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	if c := h.owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q", c)
	}
	h.clock.WaitArmed(t, now.Add(skew+time.Second))
	h.wantState(t, StateMaster)
	if r := h.inst.Snapshot().Reason; !strings.Contains(r, "priority 0") {
		t.Fatalf("reason %q", r)
	}

	// Shutdown: priority 0, release.
	h.shutdown(t)
	if p := tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("shutdown advert %+v", p)
	}
	if c := h.owner.next(t); c != "release" {
		t.Fatalf("owner call %q", c)
	}
	snap = h.inst.Snapshot()
	if snap.State != StateInit {
		t.Fatalf("state after shutdown %v", snap.State)
	}
	if snap.Counters.AdvertsSent != 4 || snap.Counters.AdvertsReceived != 2 || snap.Counters.Transitions != 5 {
		t.Fatalf("counters %+v", snap.Counters)
	}
	// Every state change is logged with from, to and reason.
	changes := h.logs.FilterMessage("VRRP state change").All()
	if len(changes) != 5 {
		t.Fatalf("%d state change log lines, want 5", len(changes))
	}
	f := changes[1].ContextMap()
	if f["from"] != "BACKUP" || f["to"] != "MASTER" || f["reason"] == "" {
		t.Fatalf("log fields %v", f)
	}
	if got := metricValue(t, h.reg, "rmqlb_vrrp_adverts_sent_total", ""); got != 4 {
		t.Fatalf("sent metric %v", got)
	}
}

func TestInstanceDropsCounted(t *testing.T) {
	peer := netip.MustParseAddr("10.99.0.2")
	stranger := netip.MustParseAddr("10.99.0.9")
	cfg := testConfig(func(c *Config) {
		c.Version = 2
		c.AuthPass = "passwd"
		c.UnicastSrc = local
		c.UnicastPeers = []netip.Addr{peer}
	})
	tr := newFakeTransport(local, peer)
	h := startInstance(t, cfg, tr)
	const mdi = 3609375 * time.Microsecond
	h.clock.WaitArmed(t, t0.Add(mdi))

	good := Packet{Version: 2, VRID: 7, Priority: 150, AdvertInterval: time.Second, AuthType: AuthTypeSimple,
		AuthData: SimpleAuthData("passwd"), Addrs: []netip.Addr{vip.Addr()}}
	marshal := func(p Packet) []byte {
		b, err := p.Marshal(peer, local, ChecksumPseudoHeader)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wrongPass, wrongVRID, wrongIV := good, good, good
	wrongPass.AuthData = SimpleAuthData("nope")
	wrongVRID.VRID = 8
	wrongIV.AdvertInterval = 2 * time.Second
	badSum := marshal(good)
	badSum[6] ^= 0xff
	v3 := Packet{Version: 3, VRID: 7, Priority: 150, AdvertInterval: time.Second, Addrs: []netip.Addr{vip.Addr()}}

	// refused: the advert carries our VRID and is another router's, so
	// it is kept as Snapshot.Refused.
	inputs := []struct {
		b       []byte
		src     netip.Addr
		ttl     int
		want    string
		refused bool
	}{
		{marshal(wrongPass), peer, 255, DropAuth, true},
		{marshal(wrongVRID), peer, 255, DropVRID, false},
		{badSum, peer, 255, DropChecksum, false},
		{marshal(v3), peer, 255, DropVersion, true},
		{marshal(good)[:10], peer, 255, DropTruncated, false},
		{marshal(good), stranger, 255, DropNotPeer, true},
		{marshal(good), local, 255, DropOwn, false},
		{marshal(wrongIV), peer, 255, DropIntervalMismatch, true},
		// A stranger's packet that is no valid advert is no refused
		// router, whatever its second byte.
		{[]byte{0x21, 7, 150, 1, 0, 0, 0, 0}, stranger, 255, DropNotPeer, false},
	}
	var refused uint64
	seen := map[string]uint64{}
	for n, in := range inputs {
		tr.inject(t, in.b, in.src, local, in.ttl)
		h.waitSnapshot(t, "drop counted", func(s Snapshot) bool {
			var total uint64
			for _, c := range s.Counters.Dropped {
				total += c
			}
			return total == uint64(n+1)
		})
		h.clock.WaitArmed(t, t0.Add(mdi)) // the drop changed nothing
		snap := h.inst.Snapshot()
		seen[in.want]++
		if snap.Counters.Dropped[in.want] != seen[in.want] {
			t.Fatalf("input %d: dropped %v, want %d %q", n, snap.Counters.Dropped, seen[in.want], in.want)
		}
		if snap.Counters.AdvertsReceived != uint64(n+1) {
			t.Fatalf("input %d: received %d", n, snap.Counters.AdvertsReceived)
		}
		if in.refused {
			refused++
			iv := time.Second
			if in.want == DropIntervalMismatch {
				iv = 2 * time.Second
			}
			want := RefusedAdvert{From: in.src, Priority: 150, AdvertInterval: iv, Reason: in.want, At: h.clock.Now(), Count: refused}
			if r := snap.Refused; r == nil || *r != want {
				t.Fatalf("input %d: refused %+v, want %+v", n, r, want)
			}
		} else if r := snap.Refused; (refused == 0) != (r == nil) || (r != nil && r.Count != refused) {
			t.Fatalf("input %d (%s) kept as refused: %+v", n, in.want, r)
		}
	}
	// A good advert from the peer resets the master down timer.
	h.clock.Advance(time.Second)
	tr.inject(t, marshal(good), peer, local, 255)
	h.clock.WaitArmed(t, t0.Add(time.Second+mdi))
	if got := metricValue(t, h.reg, "rmqlb_vrrp_adverts_dropped_total", DropNotPeer); got != 2 {
		t.Fatalf("not_peer drop metric %v", got)
	}
	// The snapshot is JSON with the documented names.
	b, err := json.Marshal(h.inst.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"state":"BACKUP"`, `"dropped":{`, `"not_peer":2`, `"configured_priority":100`,
		`"master":{"addr":"10.99.0.2","priority":150`, `"vips":["10.99.0.100/24"]`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("snapshot JSON %s lacks %s", b, want)
		}
	}
	tr.noneSent(t)
}

// TestInstanceTTL: a multicast advert must come with TTL 255 (RFC 5798
// section 7.1: no router forwarded it), else it is dropped and counted as
// ttl; with unicast peers any TTL is accepted, as keepalived does (a peer
// a router away, or a keepalived with unicast_ttl), and the peer's advert
// keeps the backup a backup.
func TestInstanceTTL(t *testing.T) {
	peer := netip.MustParseAddr("10.99.0.2")
	const mdi = 3609375 * time.Microsecond
	for _, unicast := range []bool{false, true} {
		t.Run(fmt.Sprintf("unicast %v", unicast), func(t *testing.T) {
			cfg, dst := testConfig(), MulticastIPv4
			tr := newFakeTransport(local)
			if unicast {
				cfg = testConfig(func(c *Config) { c.UnicastSrc = local; c.UnicastPeers = []netip.Addr{peer} })
				dst, tr = local, newFakeTransport(local, peer)
			}
			h := startInstance(t, cfg, tr)
			h.clock.WaitArmed(t, t0.Add(mdi))
			p := Packet{Version: 3, VRID: 7, Priority: 150, AdvertInterval: time.Second, Addrs: []netip.Addr{vip.Addr()}}
			b, err := p.Marshal(peer, dst, ChecksumPseudoHeader)
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Second)
			tr.inject(t, b, peer, dst, 64)
			if !unicast {
				h.waitSnapshot(t, "the ttl drop", func(s Snapshot) bool { return s.Counters.Dropped[DropTTL] == 1 })
				h.clock.WaitArmed(t, t0.Add(mdi)) // the master down timer runs on
				return
			}
			h.clock.WaitArmed(t, t0.Add(time.Second+mdi)) // restarted by the advert
			if s := h.inst.Snapshot(); len(s.Counters.Dropped) != 0 || s.Master == nil || s.Master.Addr != peer {
				t.Fatalf("dropped %v, master %+v; want the advert heard", s.Counters.Dropped, s.Master)
			}
		})
	}
}

func TestInstanceUnicastSendsToEveryPeer(t *testing.T) {
	peers := []netip.Addr{netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.3")}
	cfg := testConfig(func(c *Config) { c.Priority = 255; c.UnicastPeers = peers; c.Checksum = ChecksumRFC9568 })
	tr := newFakeTransport(local, peers...)
	h := startInstance(t, cfg, tr)
	for _, want := range peers {
		select {
		case s := <-tr.sent:
			if s.dst != want {
				t.Fatalf("sent to %v, want %v", s.dst, want)
			}
			p, err := Parse(s.b, local, s.dst)
			if err != nil || p.ChecksumMode != ChecksumRFC9568 || p.Priority != 255 {
				t.Fatalf("sent %+v, %v", p, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing sent")
		}
	}
	if c := h.owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q", c)
	}
}

func TestInstancePriorityAdjustAndLink(t *testing.T) {
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(func(c *Config) { c.Priority = 150 }), tr)
	mdi := 3*time.Second + 106*time.Second/256
	if p := h.becomeMaster(t, mdi); p.Priority != 150 {
		t.Fatalf("advert %+v", p)
	}

	// A tracked check fails: the new priority is advertised at once.
	h.inst.SetPriorityAdjust(-60)
	if p := tr.nextSent(t); p.Priority != 90 {
		t.Fatalf("advert after adjust %+v", p)
	}
	h.clock.WaitArmed(t, t0.Add(mdi+time.Second))
	if s := h.inst.Snapshot(); s.EffectivePriority != 90 || s.ConfiguredPriority != 150 || s.PriorityAdjust != -60 {
		t.Fatalf("snapshot priorities %d/%d/%d", s.ConfiguredPriority, s.EffectivePriority, s.PriorityAdjust)
	}

	// Link down: FAULT, release.
	h.inst.SetLinkUp(false)
	if c := h.owner.next(t); c != "release" {
		t.Fatalf("owner call %q", c)
	}
	h.wantState(t, StateFault)
	// Link up: BACKUP with a fresh timer (priority 90 now).
	h.inst.SetLinkUp(true)
	h.clock.WaitArmed(t, t0.Add(mdi+3*time.Second+166*time.Second/256))
	h.wantState(t, StateBackup)
	if s := h.inst.Snapshot(); !s.LinkUp || !strings.Contains(s.Reason, "link up") {
		t.Fatalf("snapshot %+v", s)
	}
	tr.noneSent(t)
}

// A stuck Owner does not stop adverts; its calls time out on the
// instance's clock, and Run still returns.
func TestInstanceOwnerTimeout(t *testing.T) {
	tr := newFakeTransport(local)
	clk := clock.NewFake(t0)
	owner := newFakeOwner()
	owner.block = make(chan error, 2)
	const timeout = 50 * time.Millisecond
	inst, err := NewInstance(testConfig(func(c *Config) { c.Priority = 255 }),
		Options{Transport: tr, Owner: owner, Clock: clk, OwnerTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	tr.nextSent(t)
	owner.next(t) // acquire, blocks until its timeout
	clk.WaitArmed(t, t0.Add(timeout))
	clk.WaitArmed(t, t0.Add(time.Second))
	clk.Advance(time.Second)
	if err := <-owner.block; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire returned %v, want its deadline exceeded", err)
	}
	tr.nextSent(t) // adverts go on while the owner is stuck
	cancel()
	if p := tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("shutdown advert %+v", p)
	}
	if c := owner.next(t); c != "release" {
		t.Fatalf("owner call %q", c)
	}
	clk.WaitArmed(t, t0.Add(time.Second+timeout))
	clk.Advance(timeout)
	if err := <-owner.block; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("release returned %v, want its deadline exceeded", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := inst.Snapshot(); s.Counters.OwnerErrors != 2 {
		t.Fatalf("owner errors %d", s.Counters.OwnerErrors)
	}
}

func TestInstanceRunTwice(t *testing.T) {
	tr := newFakeTransport(local)
	h := startInstance(t, testConfig(), tr)
	h.clock.WaitArmed(t, t0.Add(3609375*time.Microsecond))
	if err := h.inst.Run(context.Background()); err == nil {
		t.Fatal("second Run succeeded")
	}
}

func TestNewInstanceInvalidConfig(t *testing.T) {
	_, err := NewInstance(Config{Name: "x"}, Options{})
	if err == nil {
		t.Fatal("NewInstance accepted an empty config")
	}
	for _, want := range []string{"interface", "virtual_router_id", "priority", "version", "virtual_ipaddress"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// metricValue returns the value of the counter or gauge name (with label
// reason=reason if reason is set) of instance "test".
func metricValue(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["vrrp_instance"] != "test" || (reason != "" && labels["reason"] != reason) {
				continue metrics
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no metric %s reason=%q", name, reason)
	return 0
}
