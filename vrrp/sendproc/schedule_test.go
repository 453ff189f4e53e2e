package sendproc

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

const ms = int64(time.Millisecond)

// sends records what schedule.run sent: "fd:dst@now".
type sends struct {
	now     int64
	log     []string
	reports []sendwire.Message
	fail    bool
}

func (s *sends) send(fd int, pkt []byte, sa *unix.RawSockaddrInet4) error {
	s.log = append(s.log, netip.AddrFrom4(sa.Addr).String()+":"+string(pkt)+"@"+time.Duration(s.now).String())
	if s.fail {
		return unix.ENETUNREACH
	}
	return nil
}

func (s *sends) report(m *sendwire.Message) {
	r := *m
	r.Delays = slices.Clone(m.Delays)
	s.reports = append(s.reports, r)
}

func (s *sends) runAt(sc *schedule, now int64) []string {
	s.now = now
	s.log = nil
	var msg sendwire.Message
	sc.run(now, s.send, s.report, &msg)
	return s.log
}

func startMsg(id uint16, interval, first, timeout time.Duration, pkts ...string) *sendwire.Message {
	m := &sendwire.Message{Type: sendwire.TypeStart, Instance: id, Interval: interval, First: first, Timeout: timeout}
	for k, p := range pkts {
		m.Packets = append(m.Packets, sendwire.Packet{Dst: netip.AddrFrom4([4]byte{10, 0, 0, byte(k + 1)}), Data: []byte(p)})
	}
	return m
}

func want(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
}

// TestScheduleAbsoluteDeadlines: adverts go out on a fixed grid from the
// first one due: a late wake-up delays one advert, not the ones after it;
// each destination gets its own packet.
func TestScheduleAbsoluteDeadlines(t *testing.T) {
	var sc schedule
	var s sends
	if old := sc.start(0, startMsg(1, 10*time.Millisecond, 7*time.Millisecond, time.Second, "a", "b"), 5); old != -1 {
		t.Fatalf("old socket %d", old)
	}
	if at, ok := sc.nextDue(); !ok || at != 7*ms {
		t.Fatalf("next due %v %v", at, ok)
	}
	want(t, s.runAt(&sc, 6*ms))
	want(t, s.runAt(&sc, 7*ms), "10.0.0.1:a@7ms", "10.0.0.2:b@7ms")
	// 3 ms late: the next is still due at 27 ms.
	want(t, s.runAt(&sc, 20*ms), "10.0.0.1:a@20ms", "10.0.0.2:b@20ms")
	if at, _ := sc.nextDue(); at != 27*ms {
		t.Fatalf("next due %v, want 27ms", time.Duration(at))
	}
	// Stalled for 5 intervals: one advert at once, then the grid again.
	sc.alive(50*ms, 1)
	want(t, s.runAt(&sc, 75*ms), "10.0.0.1:a@75ms", "10.0.0.2:b@75ms")
	if at, _ := sc.nextDue(); at != 77*ms {
		t.Fatalf("next due %v, want 77ms", time.Duration(at))
	}
	e := sc.find(1)
	if !slices.Equal(e.delays, []time.Duration{0, 3 * time.Millisecond, 48 * time.Millisecond}) {
		t.Fatalf("delays %v", e.delays)
	}
	if e.sent != 6 || e.failed != 0 {
		t.Fatalf("sent %d failed %d", e.sent, e.failed)
	}
}

// TestScheduleUpdateKeepsTiming: an update changes the packets from the
// next advert on, not when it is due.
func TestScheduleUpdateKeepsTiming(t *testing.T) {
	var sc schedule
	var s sends
	sc.start(0, startMsg(1, 10*time.Millisecond, 10*time.Millisecond, time.Second, "a"), 5)
	want(t, s.runAt(&sc, 10*ms), "10.0.0.1:a@10ms")
	up := startMsg(1, 10*time.Millisecond, 0, time.Second, "A")
	up.Type = sendwire.TypeUpdate
	if !sc.update(15*ms, up) {
		t.Fatal("update of a started instance refused")
	}
	want(t, s.runAt(&sc, 19*ms))
	want(t, s.runAt(&sc, 20*ms), "10.0.0.1:A@20ms")
	if sc.update(0, startMsg(2, time.Second, 0, time.Second, "x")) {
		t.Fatal("update of an unknown instance accepted")
	}
	if fd := sc.stop(1); fd != 5 {
		t.Fatalf("stop returned socket %d, want 5", fd)
	}
	if _, ok := sc.nextDue(); ok {
		t.Fatal("something due after stop")
	}
	want(t, s.runAt(&sc, 30*ms))
}

// TestScheduleExpires: an instance whose daemon side is not heard from
// within the timeout stops sending, reported once as expired; heard
// from in time, it goes on.
func TestScheduleExpires(t *testing.T) {
	var sc schedule
	var s sends
	sc.start(0, startMsg(1, 100*time.Millisecond, 100*time.Millisecond, time.Second, "a"), 5)
	for now := int64(100) * ms; now <= 1000*ms; now += 100 * ms {
		want(t, s.runAt(&sc, now), "10.0.0.1:a@"+time.Duration(now).String())
	}
	sc.alive(1000*ms, 1)
	for now := int64(1100) * ms; now <= 2000*ms; now += 100 * ms {
		want(t, s.runAt(&sc, now), "10.0.0.1:a@"+time.Duration(now).String())
	}
	s.reports = nil
	want(t, s.runAt(&sc, 2100*ms))
	if len(s.reports) != 1 || !s.reports[0].Expired || s.reports[0].Instance != 1 {
		t.Fatalf("reports %+v", s.reports)
	}
	want(t, s.runAt(&sc, 2200*ms))
	if _, ok := sc.nextDue(); ok {
		t.Fatal("an expired instance is still due")
	}
	if len(s.reports) != 1 {
		t.Fatalf("expiry reported %d times", len(s.reports))
	}
	// A new start takes it up again, on the socket it had (returned).
	if old := sc.start(2300*ms, startMsg(1, 100*time.Millisecond, 0, time.Second, "a"), 6); old != 5 {
		t.Fatalf("old socket %d, want 5", old)
	}
	want(t, s.runAt(&sc, 2300*ms), "10.0.0.1:a@2.3s")
}

// TestScheduleReports: a report goes out once MaxDelays adverts were
// sent, or a second after the last one, with what was sent and failed,
// and where and why the last failed send went wrong.
// At 10 ms adverts that is one report a second.
func TestScheduleReports(t *testing.T) {
	var sc schedule
	var s sends
	sc.start(0, startMsg(1, 10*time.Millisecond, 0, time.Hour, "a"), 5)
	now := int64(0)
	for now <= reportEvery {
		s.runAt(&sc, now)
		now += 10 * ms
	}
	if len(s.reports) != 1 || s.reports[0].Sent != 101 || len(s.reports[0].Delays) != 101 {
		t.Fatalf("reports at 10 ms %+v, want one of 101 adverts", s.reports)
	}
	sc.stop(1)
	s.reports = nil
	sc.start(now, startMsg(1, time.Millisecond, 0, time.Hour, "a", "b"), 5)
	for range sendwire.MaxDelays {
		s.runAt(&sc, now)
		now += ms
	}
	if len(s.reports) != 1 || s.reports[0].Sent != 2*sendwire.MaxDelays || len(s.reports[0].Delays) != sendwire.MaxDelays {
		t.Fatalf("reports %+v", s.reports)
	}
	s.fail = true
	s.runAt(&sc, now)
	if at, _ := sc.nextDue(); at != now+ms {
		t.Fatalf("next due %v", at)
	}
	sc.stop(1)
	sc.start(now, startMsg(1, 10*time.Second, 0, time.Hour, "a"), 5)
	s.runAt(&sc, now)
	if at, _ := sc.nextDue(); at != now+reportEvery {
		t.Fatalf("next due %v, want the report a second later", at)
	}
	s.runAt(&sc, now+reportEvery)
	if r := s.reports[len(s.reports)-1]; r.Failed != 1 || r.Sent != 0 || r.FailedTo != netip.MustParseAddr("10.0.0.1") || r.Errno != uint32(unix.ENETUNREACH) {
		t.Fatalf("last report %+v, want one failed send to 10.0.0.1 with ENETUNREACH", r)
	}
	// Sent again: the next report names no failure.
	s.fail = false
	s.runAt(&sc, now+10*time.Second.Nanoseconds())
	s.runAt(&sc, now+11*time.Second.Nanoseconds())
	if r := s.reports[len(s.reports)-1]; r.Failed != 0 || r.Sent != 1 || r.FailedTo.IsValid() || r.Errno != 0 {
		t.Fatalf("last report %+v, want one advert sent and no failure", r)
	}
}

// TestScheduleCheck: a check (the daemon asking for a report) makes the
// next run report the instance at once, also with nothing sent since the
// last report, with the check's number, and counts as a liveness message;
// one report per check, and none for an instance that is not there. The
// reports of the sender's own carry no number.
func TestScheduleCheck(t *testing.T) {
	var sc schedule
	var s sends
	sc.start(0, startMsg(1, 100*time.Millisecond, 0, time.Second, "a"), 5)
	sc.start(0, startMsg(2, 100*time.Millisecond, 50*time.Millisecond, time.Second, "b"), 6)
	s.runAt(&sc, 0)
	if len(s.reports) != 0 {
		t.Fatalf("reports before a second passed or a check: %+v", s.reports)
	}
	sc.check(10*ms, 2, 17)
	sc.check(10*ms, 9, 18) // no such instance: nothing
	if e := sc.find(2); e.heard != 10*ms {
		t.Fatalf("a check did not count as alive: heard %v", time.Duration(e.heard))
	}
	want(t, s.runAt(&sc, 20*ms)) // nothing due; the check is answered all the same
	if len(s.reports) != 1 || s.reports[0].Instance != 2 || s.reports[0].Seq != 17 || s.reports[0].Sent != 0 || s.reports[0].Expired {
		t.Fatalf("reports after check 17 of instance 2: %+v, want one of 2, answering 17, with nothing sent", s.reports)
	}
	want(t, s.runAt(&sc, 50*ms), "10.0.0.1:b@50ms")
	if len(s.reports) != 1 {
		t.Fatalf("a report without a check, within a second: %+v", s.reports[1:])
	}
	// A check of an instance that expired: it was reported expired, once.
	sc.start(60*ms, startMsg(3, 100*time.Millisecond, 0, 200*time.Millisecond, "c"), 7)
	s.runAt(&sc, 60*ms)
	s.runAt(&sc, 360*ms)
	n := len(s.reports)
	if !s.reports[n-1].Expired {
		t.Fatalf("instance 3 not reported expired: %+v", s.reports[n-1])
	}
	sc.check(370*ms, 3, 19)
	s.runAt(&sc, 380*ms)
	for _, r := range s.reports[n:] {
		if r.Instance == 3 {
			t.Fatalf("an expired instance reported again on a check: %+v", r)
		}
	}
	// The reports owed after a second, of the sender's own.
	n = len(s.reports)
	s.runAt(&sc, 1100*ms)
	if len(s.reports) != n+2 {
		t.Fatalf("reports at 1.1s: %+v, want those of instances 1 and 2", s.reports[n:])
	}
	for _, r := range s.reports[n:] {
		if r.Seq != 0 {
			t.Fatalf("a report of the sender's own answers Check %d: %+v", r.Seq, r)
		}
	}
}

// TestScheduleAllocatesNothing: sending an advert and reporting allocate
// nothing: the process runs with its garbage collector off.
func TestScheduleAllocatesNothing(t *testing.T) {
	var sc schedule
	sc.start(0, startMsg(1, 10*time.Millisecond, 0, time.Hour, "a", "b"), 5)
	var msg sendwire.Message
	out := make([]byte, 0, 512)
	send := func(int, []byte, *unix.RawSockaddrInet4) error { return nil }
	report := func(m *sendwire.Message) { out, _ = m.Append(out[:0]) }
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() {
		sc.run(now, send, report, &msg)
		now += 10 * ms
		sc.alive(now, 1)
	}); n != 0 {
		t.Fatalf("%v allocations per advert", n)
	}
}

// TestSchedulePeriod: the timer may repeat on a lone instance's advert
// grid, not when two instances send or when the deadline is another
// (a report owed, an advert of an instance that stopped).
func TestSchedulePeriod(t *testing.T) {
	var sc schedule
	var s sends
	sc.start(0, startMsg(1, 10*time.Millisecond, 10*time.Millisecond, time.Second, "a"), 5)
	at, _ := sc.nextDue()
	if p := sc.period(at); p != 10*ms {
		t.Fatalf("one instance: period %v", time.Duration(p))
	}
	if p := sc.period(at + ms); p != 0 {
		t.Fatalf("a deadline off its grid: period %v", time.Duration(p))
	}
	// A grid the report deadline is not on: the report is a one-off.
	sc.start(0, startMsg(1, 300*time.Millisecond, 300*time.Millisecond, 10*time.Second, "a"), 5)
	want(t, s.runAt(&sc, 300*ms), "10.0.0.1:a@300ms")
	want(t, s.runAt(&sc, 900*ms), "10.0.0.1:a@900ms")
	if at, _ := sc.nextDue(); at != 1000*ms || sc.period(at) != 0 {
		t.Fatalf("next due %v period %v, want the report at 1s, once", time.Duration(at), time.Duration(sc.period(at)))
	}
	want(t, s.runAt(&sc, 1000*ms))
	if at, _ := sc.nextDue(); at != 1200*ms || sc.period(at) != 300*ms {
		t.Fatalf("next due %v period %v, want 1.2s every 300ms", time.Duration(at), time.Duration(sc.period(at)))
	}
	sc.start(0, startMsg(1, 10*time.Millisecond, 10*time.Millisecond, time.Second, "a"), 5)
	sc.start(0, startMsg(2, 10*time.Millisecond, 5*time.Millisecond, time.Second, "b"), 6)
	if at, _ := sc.nextDue(); sc.period(at) != 0 {
		t.Fatalf("two instances: period %v", time.Duration(sc.period(at)))
	}
	sc.stop(2)
	if at, _ := sc.nextDue(); sc.period(at) != 10*ms {
		t.Fatalf("one instance again: period %v", time.Duration(sc.period(at)))
	}
}
