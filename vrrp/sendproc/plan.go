package sendproc

import (
	"time"

	"github.com/rmqlb/rmqlb/vrrp/sendwire"
)

// chain is the adverts of an instance queued in the kernel at once: n
// times a read of the instance's timer, which waits for its next tick,
// followed by the sends of the packets; then a marker, a completion that
// wakes the sender process once they are done.
type chain struct {
	active bool
	seq    uint64 // the chain's number, in its requests' user data
	n      int64  // adverts
	first  int64  // the tick of the first
	failed uint32 // sends that failed, as their completions said
}

// maxChain bounds the adverts of one chain (the submission queue must
// hold a chain whole).
const maxChain = 64

// refillEvery is how long a chain lasts: an interval, or an eighth of the
// liveness timeout if that is longer (as often as the daemon says it is
// alive). The sender process wakes for an instance that often, reads the
// daemon's liveness messages (a message counts when it is read, at most
// that long after it was sent, as the poller's timer reads them at most
// an interval after) and queues the next chain.
func refillEvery(e *entry) int64 {
	return max(e.interval, e.timeout/8)
}

// nextTick returns the first tick of e's grid at or after now.
func (e *entry) nextTick(now int64) int64 {
	if e.next >= now {
		return e.next
	}
	return e.next + (now-e.next+e.interval-1)/e.interval*e.interval
}

// plan queues, with queue, a chain for every instance that has none:
// the ticks of its grid from now for a refill period (at least one), and
// none later than its liveness timeout after it was last heard from. An instance that
// can queue nothing any more has expired: it is reported (once) and
// sends nothing until the daemon starts it again. It hands reports owed
// to report, as run does. seq numbers the chains.
func (s *schedule) plan(now int64, seq *uint64, queue func(e *entry) error, report func(*sendwire.Message), msg *sendwire.Message) error {
	for _, e := range s.entries {
		if e.expired {
			continue
		}
		if !e.chain.active {
			first, heardUntil := e.nextTick(now), e.heard+e.timeout
			if first > heardUntil {
				e.expired = true
				s.report(now, e, report, msg)
				continue
			}
			limit := min(max(now+refillEvery(e), first), heardUntil)
			*seq++
			e.next = first
			e.chain = chain{active: true, seq: *seq, n: min((limit-first)/e.interval+1, maxChain), first: first}
			if err := queue(e); err != nil {
				return err
			}
		}
		if e.sent+e.failed > 0 && (len(e.delays) == cap(e.delays) || now-e.lastReport >= reportEvery) {
			s.report(now, e, report, msg)
		}
	}
	return nil
}

// chainDone records that e's chain seq completed (its marker came back)
// at now, late sendDelay after its last tick: its adverts went out, but
// the sends that failed.
func (e *entry) chainDone(seq uint64, sendDelay int64) {
	if !e.chain.active || e.chain.seq != seq {
		return
	}
	e.count(e.chain.n)
	if sendDelay >= 0 && len(e.delays) < cap(e.delays) {
		e.delays = append(e.delays, time.Duration(sendDelay))
	}
}

// chainCut records that e's chain ended before its marker, at now: it
// was taken out, or a read of the timer failed. The adverts whose ticks
// passed count as gone out.
func (e *entry) chainCut(now int64) {
	if !e.chain.active {
		return
	}
	n := int64(0)
	if now >= e.chain.first {
		n = min(e.chain.n, (now-e.chain.first)/e.interval+1)
	}
	e.count(n)
}

// count counts the chain's first n adverts as gone out and ends it; the
// next advert is the tick after them.
func (e *entry) count(n int64) {
	pkts := uint32(n) * uint32(len(e.pkts))
	f := min(e.chain.failed, pkts)
	e.sent += pkts - f
	e.failed += f
	e.next = e.chain.first + n*e.interval
	e.chain = chain{}
}

// failedSend records a failed send of e's chain seq.
func (e *entry) failedSend(seq uint64) {
	if e.chain.active && e.chain.seq == seq {
		e.chain.failed++
		return
	}
	e.failed++
}
