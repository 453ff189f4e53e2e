package sendproc

import (
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// chains records what schedule.plan queued: per chain, "id:first+n".
type chains struct {
	log     []chain
	reports []sendwire.Message
}

func (c *chains) planAt(t *testing.T, sc *schedule, now int64) []chain {
	t.Helper()
	c.log = nil
	var seq uint64
	var msg sendwire.Message
	s := sends{}
	err := sc.plan(now, &seq, func(e *entry) error {
		c.log = append(c.log, e.chain)
		return nil
	}, s.report, &msg)
	if err != nil {
		t.Fatal(err)
	}
	c.reports = append(c.reports, s.reports...)
	return c.log
}

func wantChain(t *testing.T, got []chain, first time.Duration, n int64) {
	t.Helper()
	if len(got) != 1 || got[0].first != int64(first) || got[0].n != n || !got[0].active {
		t.Fatalf("queued %+v, want one chain of %d adverts from %v", got, n, first)
	}
}

// TestPlanChains: at 10 ms adverts and a 1 s liveness timeout an instance
// queues a chain of the ticks of the next 125 ms (an eighth of the
// timeout), the next one once its marker came back, on the same grid.
func TestPlanChains(t *testing.T) {
	var sc schedule
	var c chains
	sc.start(0, startMsg(1, 10*time.Millisecond, 10*time.Millisecond, time.Second, "a", "b"), 5)
	wantChain(t, c.planAt(t, &sc, 0), 10*time.Millisecond, 12) // 10..120 ms
	// Nothing more while it runs.
	if got := c.planAt(t, &sc, 50*ms); len(got) != 0 {
		t.Fatalf("queued %+v while a chain runs", got)
	}
	e := sc.find(1)
	e.failedSend(e.chain.seq)
	e.failedSend(e.chain.seq + 7) // of no chain of its: counted failed as it is
	e.chainDone(e.chain.seq, int64(300*time.Microsecond))
	if e.sent != 2*12-1 || e.failed != 2 || len(e.delays) != 1 || e.delays[0] != 300*time.Microsecond {
		t.Fatalf("after the chain: sent %d failed %d delays %v", e.sent, e.failed, e.delays)
	}
	// The marker came back at 121 ms: the next chain from 130 ms.
	wantChain(t, c.planAt(t, &sc, 121*ms), 130*time.Millisecond, 12) // 130..240 ms
	// A stale marker changes nothing.
	e.chainDone(e.chain.seq-1, 0)
	if !e.chain.active || e.sent != 23 {
		t.Fatalf("a stale marker ended the chain: %+v, sent %d", e.chain, e.sent)
	}
}

// TestPlanLiveness: no advert is queued for later than the liveness
// timeout after the daemon was last heard from; the instance expires,
// reported once, when it can queue none.
func TestPlanLiveness(t *testing.T) {
	var sc schedule
	var c chains
	sc.start(0, startMsg(1, 10*time.Millisecond, 10*time.Millisecond, time.Second, "a"), 5)
	e := sc.find(1)
	now := int64(0)
	for {
		got := c.planAt(t, &sc, now)
		if len(got) == 0 {
			break
		}
		last := got[0].first + (got[0].n-1)*e.interval
		if last > 1000*ms {
			t.Fatalf("an advert queued for %v, past the liveness timeout", time.Duration(last))
		}
		now = last + ms
		e.chainDone(e.chain.seq, 0)
	}
	if !e.expired || len(c.reports) != 1 || !c.reports[0].Expired {
		t.Fatalf("expired %v, reports %+v", e.expired, c.reports)
	}
	if c.reports[0].Sent != 100 {
		t.Fatalf("reported %d sent, want the 100 adverts of the first second", c.reports[0].Sent)
	}
	if got := c.planAt(t, &sc, now+time.Second.Nanoseconds()); len(got) != 0 || len(c.reports) != 1 {
		t.Fatalf("after expiring: queued %+v, %d reports", got, len(c.reports))
	}
	// Heard from meanwhile, it would have gone on.
	sc.start(2000*ms, startMsg(1, 10*time.Millisecond, 10*time.Millisecond, time.Second, "a"), 5)
	wantChain(t, c.planAt(t, &sc, 2000*ms), 2010*time.Millisecond, 12)
	sc.alive(2900*ms, 1)
	e.chainDone(e.chain.seq, 0)
	wantChain(t, c.planAt(t, &sc, 2950*ms), 2950*time.Millisecond, 13)
}

// TestPlanSlowAdverts: at adverts slower than the refill period a chain
// holds one advert, the first at its time; a chain broken or taken out
// counts the ticks that passed, and the grid goes on.
func TestPlanSlowAdverts(t *testing.T) {
	var sc schedule
	var c chains
	sc.start(0, startMsg(1, time.Minute, time.Minute, 4*time.Minute, "a"), 5)
	wantChain(t, c.planAt(t, &sc, 0), time.Minute, 1)
	e := sc.find(1)
	e.chainCut(30 * time.Second.Nanoseconds())
	if e.sent != 0 || e.chain.active {
		t.Fatalf("cut before its tick: sent %d, chain %+v", e.sent, e.chain)
	}
	wantChain(t, c.planAt(t, &sc, 30*time.Second.Nanoseconds()), time.Minute, 1)
	e.chainCut(61 * time.Second.Nanoseconds())
	if e.sent != 1 {
		t.Fatalf("cut after its tick: sent %d", e.sent)
	}
	// Stalled for three minutes: the next tick of the grid.
	wantChain(t, c.planAt(t, &sc, 3*time.Minute.Nanoseconds()+ms), 4*time.Minute, 1)
}

// TestPlanLongChain: a chain holds at most maxChain adverts.
func TestPlanLongChain(t *testing.T) {
	var sc schedule
	var c chains
	sc.start(0, startMsg(1, time.Millisecond, time.Millisecond, time.Second, "a"), 5)
	wantChain(t, c.planAt(t, &sc, 0), time.Millisecond, maxChain)
}

// TestPlanAllocatesNothing: queueing chains, counting them and reporting
// allocate nothing: the process runs with its garbage collector off.
func TestPlanAllocatesNothing(t *testing.T) {
	var sc schedule
	sc.start(0, startMsg(1, 10*time.Millisecond, 0, time.Hour, "a", "b"), 5)
	var msg sendwire.Message
	out := make([]byte, 0, 512)
	queue := func(*entry) error { return nil }
	report := func(m *sendwire.Message) { out, _ = m.Append(out[:0]) }
	e := sc.find(1)
	var seq uint64
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() {
		if err := sc.plan(now, &seq, queue, report, &msg); err != nil {
			t.Fatal(err)
		}
		e.failedSend(e.chain.seq)
		e.chainDone(e.chain.seq, 1000)
		now += 125 * ms
		sc.alive(now, 1)
	}); n != 0 {
		t.Fatalf("%v allocations per chain", n)
	}
}
