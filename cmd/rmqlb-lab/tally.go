package main

import (
	"sort"
	"sync"
	"time"
)

// tally counts what the producer and the consumer saw. Safe for
// concurrent use.
type tally struct {
	mu sync.Mutex
	// published counts basic.publish calls that went out (retries included).
	published int
	// confirmed maps a message number to its first broker ack.
	confirmed    map[int]time.Time
	confirmTimes []time.Time
	nacked       int
	timeouts     int // confirms not received in time (message republished)
	returned     int // basic.returns of unroutable messages (published again); expected 0
	// received counts deliveries per message number; firstRecv holds the
	// time of the first.
	received     map[int]int
	firstRecv    map[int]time.Time
	receiveTimes []time.Time // first deliveries only
	duplicates   int
	prodConns    int // connections the producer opened
	consConns    int
}

func newTally() *tally {
	return &tally{confirmed: map[int]time.Time{}, received: map[int]int{}, firstRecv: map[int]time.Time{}}
}

func (t *tally) publish() {
	t.mu.Lock()
	t.published++
	t.mu.Unlock()
}

func (t *tally) confirm(seq int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.confirmed[seq]; !ok {
		t.confirmed[seq] = at
		t.confirmTimes = append(t.confirmTimes, at)
	}
}

func (t *tally) nack()    { t.mu.Lock(); t.nacked++; t.mu.Unlock() }
func (t *tally) timeout() { t.mu.Lock(); t.timeouts++; t.mu.Unlock() }
func (t *tally) ret()     { t.mu.Lock(); t.returned++; t.mu.Unlock() }

func (t *tally) connected(producer bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if producer {
		t.prodConns++
	} else {
		t.consConns++
	}
}

// receive records a delivery and reports whether it is a duplicate.
func (t *tally) receive(seq int, at time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.received[seq]++
	if t.received[seq] > 1 {
		t.duplicates++
		return true
	}
	t.receiveTimes = append(t.receiveTimes, at)
	t.firstRecv[seq] = at
	return false
}

// totals is a consistent copy of the counters.
type totals struct {
	Published, Confirmed, Received, Lost, Duplicates int
	Nacked, Timeouts, Returned                       int
	ProdConns, ConsConns                             int
	LastReceive                                      time.Time
}

func (t *tally) totals() totals {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := totals{
		Published: t.published, Confirmed: len(t.confirmed), Received: len(t.received),
		Duplicates: t.duplicates, Nacked: t.nacked, Timeouts: t.timeouts, Returned: t.returned,
		ProdConns: t.prodConns, ConsConns: t.consConns,
	}
	for seq := range t.confirmed {
		if t.received[seq] == 0 {
			r.Lost++
		}
	}
	if n := len(t.receiveTimes); n > 0 {
		r.LastReceive = t.receiveTimes[n-1]
	}
	return r
}

// lastProgress returns the times of the last confirm and of the last new
// delivery.
func (t *tally) lastProgress() (confirm, deliver time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.confirmTimes); n > 0 {
		confirm = t.confirmTimes[n-1]
	}
	for _, r := range t.receiveTimes[max(0, len(t.receiveTimes)-200):] {
		if r.After(deliver) {
			deliver = r
		}
	}
	return confirm, deliver
}

// missing returns the confirmed message numbers not received (sorted).
func (t *tally) missing() []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var m []int
	for seq := range t.confirmed {
		if t.received[seq] == 0 {
			m = append(m, seq)
		}
	}
	sort.Ints(m)
	return m
}

// series returns the times of the broker's confirms and of the consumer's
// first deliveries, each sorted.
func (t *tally) series() (confirms, deliveries []time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]time.Time(nil), t.confirmTimes...), sortedTimes(t.receiveTimes)
}

// longestDelay returns the longest time from the broker's confirm of a
// message to its first delivery, over the messages confirmed in [from, to):
// a message not delivered (yet) counts up to end, since it has waited at
// least that long.
func (t *tally) longestDelay(from, to, end time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var worst time.Duration
	for seq, c := range t.confirmed {
		if c.Before(from) || !c.Before(to) {
			continue
		}
		if r, ok := t.firstRecv[seq]; ok {
			worst = max(worst, r.Sub(c))
		} else {
			worst = max(worst, end.Sub(c))
		}
	}
	return worst
}

// missingAt returns the confirm times of the confirmed messages not
// received.
func (t *tally) missingAt() []time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var m []time.Time
	for seq, at := range t.confirmed {
		if t.received[seq] == 0 {
			m = append(m, at)
		}
	}
	return m
}

// gaps returns the longest gap between consecutive broker confirms and
// between consecutive first deliveries that overlaps [from, to): how long
// the producer and the consumer made no progress during a step.
func (t *tally) gaps(from, to time.Time) (confirm, deliver time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return longestGap(t.confirmTimes, from, to), longestGap(sortedTimes(t.receiveTimes), from, to)
}

func sortedTimes(ts []time.Time) []time.Time {
	c := append([]time.Time(nil), ts...)
	sort.Slice(c, func(i, j int) bool { return c[i].Before(c[j]) })
	return c
}

// longestGap is the longest interval without an element of ts (sorted)
// within [from, to): the intervals between consecutive times, clipped to
// the window, so that a stall that began in an earlier step counts from
// from; an interval still open at to counts up to to.
func longestGap(ts []time.Time, from, to time.Time) time.Duration {
	var worst time.Duration
	prev := from
	for _, t := range ts {
		if t.Before(from) {
			continue
		}
		if !t.Before(to) {
			break
		}
		if d := t.Sub(prev); d > worst {
			worst = d
		}
		prev = t
	}
	if d := to.Sub(prev); d > worst {
		worst = d
	}
	return worst
}
