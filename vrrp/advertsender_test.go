package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// eventLog is the order in which a rawFakeTransport sent adverts and a
// fakeSender was told things.
type eventLog struct {
	mu      sync.Mutex
	events  []string
	changed chan struct{} // cap 1, made by waitEvent: an event was added
}

func (l *eventLog) add(format string, args ...any) {
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
	ch := l.changed
	l.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

// rawFakeTransport is a fakeTransport whose socket an AdvertSender can
// use (it has none: the fakeSender does not send), logging every advert
// sent with its priority.
type rawFakeTransport struct {
	*fakeTransport
	log *eventLog
}

func (r *rawFakeTransport) WriteTo(b []byte, dst netip.Addr) error {
	r.log.add("send %d", b[2])
	return r.fakeTransport.WriteTo(b, dst)
}

func (r *rawFakeTransport) sendConn() syscall.RawConn { return nil }

func (r *rawFakeTransport) appendPacket(b, payload []byte, dst netip.Addr) []byte {
	return appendIPv4(b, r.src, dst, payload)
}

// fakeSender is an AdvertSender that logs what it is told; sending says
// what Sending reports.
type fakeSender struct {
	log     *eventLog
	sending atomic.Bool
	alive   atomic.Int64
	mu      sync.Mutex
	last    AdvertSchedule
	// ack, when set, makes Stop wait for a value: the process's
	// acknowledgement.
	ack chan struct{}
	// within is what AliveWithin returns, in nanoseconds.
	within atomic.Int64
}

func (f *fakeSender) Start(s AdvertSchedule) {
	f.mu.Lock()
	f.last = s
	f.mu.Unlock()
	f.log.add("start %d first %v every %v to %v", s.Packets[0].Packet[22], s.First, s.Interval, dsts(s))
}

func (f *fakeSender) Update(s AdvertSchedule) {
	f.mu.Lock()
	f.last = s
	f.mu.Unlock()
	f.log.add("update %d every %v", s.Packets[0].Packet[22], s.Interval)
}

func (f *fakeSender) Stop() {
	f.log.add("stop")
	if f.ack != nil {
		<-f.ack
		f.log.add("stop acknowledged")
	}
}

func (f *fakeSender) Sending() bool              { return f.sending.Load() }
func (f *fakeSender) Alive()                     { f.alive.Add(1) }
func (f *fakeSender) AliveWithin() time.Duration { return time.Duration(f.within.Load()) }
func (f *fakeSender) Describe() string           { return "fake" }
func (f *fakeSender) Check()                     { f.log.add("check") }

func dsts(s AdvertSchedule) string {
	var d []string
	for _, p := range s.Packets {
		d = append(d, p.Dst.String())
	}
	return strings.Join(d, ",")
}

func startWithSender(t *testing.T, cfg Config) (*instanceHarness, *fakeSender, *eventLog) {
	t.Helper()
	log := &eventLog{}
	snd := &fakeSender{log: log}
	snd.sending.Store(true)
	tr := newFakeTransport(local)
	h := newInstanceHarness(t, cfg, tr, newFakeOwner(), func(o *Options) {
		o.Transport = &rawFakeTransport{fakeTransport: tr, log: log}
		o.Sender = snd
	})
	h.run(t)
	return h, snd, log
}

func wantEvents(t *testing.T, log *eventLog, want ...string) {
	t.Helper()
	if got := log.take(); !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
}

// TestSenderFollowsTheMachine: the advert sender is started when the
// instance becomes MASTER (the advert on becoming MASTER is the
// instance's own, after the start), sends the periodic adverts while it
// says it does, is updated before the instance announces a new priority,
// and is stopped before the priority-0 advert of a shutdown.
func TestSenderFollowsTheMachine(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	h, snd, log := startWithSender(t, testConfig())
	h.becomeMaster(t, mdi)
	wantEvents(t, log, "start 100 first 1s every 1s to 224.0.0.18", "send 100")
	if s := h.inst.Snapshot(); s.Sender != "fake" {
		t.Fatalf("Snapshot.Sender %q", s.Sender)
	}
	now := t0.Add(mdi)

	// The sender sends the periodic adverts: none from the instance, and
	// it hears that the loop is alive.
	for range 3 {
		now = now.Add(time.Second)
		h.clock.Advance(time.Second)
		h.clock.WaitArmed(t, now.Add(time.Second))
	}
	h.tr.noneSent(t)
	wantEvents(t, log)
	if n := snd.alive.Load(); n != 3 {
		t.Fatalf("Alive called %d times at 3 periodic adverts", n)
	}
	delayed := h.inst.Snapshot().Counters.AdvertsSent

	// Its report counts as adverts sent.
	snd.mu.Lock()
	report := snd.last.Report
	snd.mu.Unlock()
	report(SendReport{Sent: 5, Delays: []time.Duration{time.Millisecond}})
	if got := h.inst.Snapshot().Counters.AdvertsSent; got != delayed+5 {
		t.Fatalf("adverts sent %d after a report of 5, was %d", got, delayed)
	}

	// A new priority: the sender first, then the instance's own advert.
	h.inst.SetPriorityAdjust(-20)
	h.tr.nextSent(t)
	wantEvents(t, log, "update 80 every 1s", "send 80")

	// Shutdown: the sender stops, and priority 0 goes out only once it
	// has acknowledged.
	snd.ack = make(chan struct{})
	h.stop()
	waitEvent(t, log, "stop")
	h.tr.noneSent(t)
	snd.ack <- struct{}{}
	if p := h.tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("advert %+v, want priority 0", p)
	}
	h.shutdown(t)
	wantEvents(t, log, "stop acknowledged", "send 0")
}

// waitEvent waits (bounded, in real time) until log's events so far are
// exactly want, and takes them.
func waitEvent(t *testing.T, log *eventLog, want ...string) {
	t.Helper()
	log.mu.Lock()
	if log.changed == nil {
		log.changed = make(chan struct{}, 1)
	}
	ch := log.changed
	log.mu.Unlock()
	deadline := time.After(5 * time.Second)
	for {
		log.mu.Lock()
		got := slices.Clone(log.events)
		log.mu.Unlock()
		if slices.Equal(got, want) {
			log.take()
			return
		}
		if len(got) > len(want) {
			t.Fatalf("events %q, want %q", got, want)
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("events %q, want %q", got, want)
		}
	}
}

// TestSenderCheckedOnLowerMaster: a MASTER that hears a router of lower
// priority advertise as MASTER (it did not hear this one's adverts) asks
// its sender to show that it sends, answers with an advert of its own
// (not the sender's, which may be what stopped) and announces the VIPs
// again, once per master down interval; the next lower advert within that
// interval does none of it (the counter and the snapshot count one), and
// a higher one makes the instance BACKUP as before.
func TestSenderCheckedOnLowerMaster(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	h, _, log := startWithSender(t, testConfig())
	h.becomeMaster(t, mdi)
	log.take()
	// A master down interval after becoming MASTER (its announcement).
	for range 4 {
		h.clock.Advance(time.Second)
	}
	h.tr.inject(t, advertBytes(t, higher, 50, time.Second), higher, MulticastIPv4, 255)
	waitEvent(t, log, "check", "send 100")
	if c := h.owner.next(t); c != "acquire" {
		t.Fatalf("owner call %q, want the VIPs announced again", c)
	}
	h.tr.inject(t, advertBytes(t, higher, 50, time.Second), higher, MulticastIPv4, 255)
	h.tr.inject(t, advertBytes(t, higher, 200, time.Second), higher, MulticastIPv4, 255)
	waitEvent(t, log, "stop")
	h.wantState(t, StateBackup)
	if n := metricValue(t, h.reg, "rmqlb_vrrp_lower_masters_total", ""); n != 1 {
		t.Errorf("rmqlb_vrrp_lower_masters_total %v, want 1", n)
	}
	want := LowerMasterHeard{From: higher, Priority: 50, At: t0.Add(mdi + 4*time.Second), Since: t0.Add(mdi + 4*time.Second), Count: 1}
	if lm := h.inst.Snapshot().LowerMaster; lm == nil || *lm != want {
		t.Errorf("Snapshot.LowerMaster %+v, want %+v", lm, want)
	}
}

// TestSenderFallsBack: while the sender does not send (its process died,
// or has not taken the schedule yet), the instance sends the periodic
// adverts itself.
func TestSenderFallsBack(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	h, snd, log := startWithSender(t, testConfig())
	h.becomeMaster(t, mdi)
	log.take()
	now := t0.Add(mdi)
	snd.sending.Store(false)
	now = now.Add(time.Second)
	h.clock.Advance(time.Second)
	if p := h.tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	h.clock.WaitArmed(t, now.Add(time.Second))
	wantEvents(t, log, "send 100")
	snd.sending.Store(true)
	h.clock.Advance(time.Second)
	h.clock.WaitArmed(t, now.Add(2*time.Second))
	h.tr.noneSent(t)
}

// TestSenderLoopWakesLess: while the sender sends, the instance's loop
// does not wake at every periodic advert, only every AliveWithin to say
// it is alive; when the sender stops sending on its own (Wake), the loop
// sends the overdue advert itself at once and every interval after.
func TestSenderLoopWakesLess(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	h, snd, log := startWithSender(t, testConfig())
	h.becomeMaster(t, mdi)
	wantEvents(t, log, "start 100 first 1s every 1s to 224.0.0.18", "send 100")
	snd.within.Store(int64(3 * time.Second)) // the interval is 1 s
	now := t0.Add(mdi)
	// The loop armed its timer for the first periodic advert before it
	// was told; from that wake-up on it wakes every 3 s.
	now = now.Add(time.Second)
	h.clock.Advance(time.Second)
	for k := range 3 {
		h.clock.WaitArmed(t, now.Add(3*time.Second))
		if n := snd.alive.Load(); n != int64(k+1) {
			t.Fatalf("Alive called %d times after %d wake-ups", n, k+1)
		}
		now = now.Add(3 * time.Second)
		h.clock.Advance(3 * time.Second)
	}
	h.clock.WaitArmed(t, now.Add(3*time.Second))
	h.tr.noneSent(t)
	wantEvents(t, log)

	// The sender stops on its own between two wake-ups.
	now = now.Add(2 * time.Second)
	h.clock.Advance(2 * time.Second)
	h.tr.noneSent(t)
	snd.sending.Store(false)
	snd.mu.Lock()
	wake := snd.last.Wake
	snd.mu.Unlock()
	if wake == nil {
		t.Fatal("the schedule has no Wake")
	}
	wake()
	if p := h.tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	h.clock.WaitArmed(t, now.Add(time.Second))
	now = now.Add(time.Second)
	h.clock.Advance(time.Second)
	if p := h.tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	h.clock.WaitArmed(t, now.Add(time.Second))
	wantEvents(t, log, "send 100", "send 100")
}

// TestSenderStopsOnBackup: a MASTER that hears a higher priority stops
// the sender as it becomes BACKUP.
func TestSenderStopsOnBackup(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	h, _, log := startWithSender(t, testConfig())
	h.becomeMaster(t, mdi)
	log.take()
	h.tr.inject(t, advertBytes(t, higher, 200, time.Second), higher, MulticastIPv4, 255)
	if c := h.owner.next(t); c != "release" {
		t.Fatalf("owner call %q", c)
	}
	wantEvents(t, log, "stop")
	h.wantState(t, StateBackup)
	h.shutdown(t)
	wantEvents(t, log)
}

// TestSenderStopsQuietly: a MASTER handing over to the process that
// succeeds it (an upgrade in place) sends no priority 0, and its sender
// stops.
func TestSenderStopsQuietly(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	h, _, log := startWithSender(t, testConfig())
	h.becomeMaster(t, mdi)
	log.take()
	h.inst.StopQuietly()
	h.shutdown(t)
	wantEvents(t, log, "stop")
}

// TestSenderUnicastPackets: with unicast peers the sender gets one
// packet per peer, each with the checksum of its destination.
func TestSenderUnicastPackets(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	p1, p2 := netip.MustParseAddr("10.0.0.8"), netip.MustParseAddr("10.0.0.9")
	log := &eventLog{}
	snd := &fakeSender{log: log}
	tr := newFakeTransport(local, p1, p2)
	h := newInstanceHarness(t, testConfig(), tr, newFakeOwner(), func(o *Options) {
		o.Transport = &rawFakeTransport{fakeTransport: tr, log: log}
		o.Sender = snd
	})
	h.run(t)
	h.clock.WaitArmed(t, t0.Add(mdi))
	h.clock.Advance(mdi)
	h.tr.nextSent(t)
	h.tr.nextSent(t)
	snd.mu.Lock()
	s := snd.last
	snd.mu.Unlock()
	if len(s.Packets) != 2 || s.Packets[0].Dst != p1 || s.Packets[1].Dst != p2 {
		t.Fatalf("packets to %v", dsts(s))
	}
	for _, raw := range s.Packets {
		p, err := Parse(raw.Packet[20:], local, raw.Dst)
		if err != nil || p.Priority != 100 {
			t.Fatalf("packet to %v: %+v, %v", raw.Dst, p, err)
		}
	}
	h.shutdown(t)
}

// TestSenderTakenBackNoBogusDelay: while the sender sends, the loop steps
// the advert timer only when it wakes anyway, so when the sender stops on
// its own the first advert the instance sends itself is not "late" by
// that: no send delay is recorded for it; the next one is again.
func TestSenderTakenBackNoBogusDelay(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	h, snd, log := startWithSender(t, testConfig())
	h.becomeMaster(t, mdi)
	log.take()
	snd.within.Store(int64(3 * time.Second)) // the interval is 1 s
	delays := func() (uint64, float64) {
		mf := metricstest.Gather(t, h.reg)["rmqlb_vrrp_advert_send_delay_seconds"]
		hg := mf.GetMetric()[0].GetHistogram()
		return hg.GetSampleCount(), hg.GetSampleSum()
	}
	// The first periodic advert is the sender's; the loop wakes 3 s on.
	now := t0.Add(mdi + time.Second)
	h.clock.Advance(time.Second)
	h.clock.WaitArmed(t, now.Add(3*time.Second))
	// Two seconds later the sender stops on its own: the instance sends
	// the advert its timer had due a second ago.
	now = now.Add(2 * time.Second)
	h.clock.Advance(2 * time.Second)
	snd.sending.Store(false)
	snd.mu.Lock()
	wake := snd.last.Wake
	snd.mu.Unlock()
	wake()
	if p := h.tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	h.clock.WaitArmed(t, now.Add(time.Second))
	if n, sum := delays(); n != 0 {
		t.Fatalf("%d send delays recorded (sum %vs) for the advert taken back from the sender", n, sum)
	}
	// The next one is the instance's own, on time.
	h.clock.Advance(time.Second)
	if p := h.tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v", p)
	}
	h.clock.WaitArmed(t, now.Add(2*time.Second))
	if n, sum := delays(); n != 1 || sum != 0 {
		t.Fatalf("send delays: %d, sum %vs; want 1 of 0s", n, sum)
	}
	wantEvents(t, log, "send 100", "send 100")
}

// TestSenderReleaseEndAdvertisedAtOnce: a release period that ends by
// itself while MASTER, the sender sending, has the instance advertise
// its priority again at once, after the sender is given it; the advert
// timer the loop did not step meanwhile does not make that advert the
// sender's.
func TestSenderReleaseEndAdvertisedAtOnce(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	h, snd, log := startWithSender(t, testConfig())
	h.becomeMaster(t, mdi)
	log.take()
	snd.within.Store(int64(3 * time.Second)) // the interval is 1 s
	now := t0.Add(mdi + time.Second)
	h.clock.Advance(time.Second)
	h.clock.WaitArmed(t, now.Add(3*time.Second))
	<-h.inst.StepDown(1500*time.Millisecond, "maintenance")
	if p := h.tr.nextSent(t); p.Priority != 0 {
		t.Fatalf("advert %+v, want priority 0", p)
	}
	wantEvents(t, log, "update 0 every 1s", "send 0")
	// The loop wakes for the end of the release, not for the advert
	// timer (the sender sends).
	h.clock.WaitArmed(t, now.Add(1500*time.Millisecond))
	h.clock.Advance(1500 * time.Millisecond)
	if p := h.tr.nextSent(t); p.Priority != 100 {
		t.Fatalf("advert %+v, want priority 100", p)
	}
	wantEvents(t, log, "update 100 every 1s", "send 100")
	h.wantState(t, StateMaster)
}
