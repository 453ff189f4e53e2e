package netsetup

import (
	"context"
	"sync"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// garpSchedule is the step function deciding when the next gratuitous ARP
// is due. It holds no timer: the caller asks next() and reports each
// announcement with sent(now). Spacing is measured from the previous
// announcement actually sent, so a stalled process never fires a burst back
// to back (which would fall inside the receivers' neighbour locktime).
type garpSchedule struct {
	cfg   GARPConfig // defaults applied
	count int        // announcements sent since start
	last  time.Time  // time of the previous announcement
}

// next returns when the next announcement is due; ok is false when none is
// (refresh disabled and the burst is over). A zero time means "now".
func (s *garpSchedule) next() (at time.Time, ok bool) {
	switch {
	case s.count == 0:
		return time.Time{}, true
	case s.count < s.cfg.Count:
		return s.last.Add(s.cfg.Interval), true
	case s.cfg.Refresh < 0:
		return time.Time{}, false
	default:
		return s.last.Add(s.cfg.Refresh), true
	}
}

// refreshing reports whether the next announcement is a refresh: the
// burst is over.
func (s *garpSchedule) refreshing() bool { return s.count >= s.cfg.Count }

// sent records an announcement made at now.
func (s *garpSchedule) sent(now time.Time) {
	s.count++
	s.last = now
}

// announcer runs a garpSchedule: start sends the first announcement in the
// caller's goroutine and hands the rest to run, which owns the timer. The
// announce function, told whether to probe too (a refresh, the burst
// over, unless GARPConfig.NoProbe), is called with no announcer lock
// held, from start's caller and from run's goroutine, so it must be safe
// for concurrent use.
type announcer struct {
	clock    clock.Clock
	cfg      GARPConfig // defaults applied
	announce func(now time.Time, probe bool)
	kick     chan struct{} // buffered 1: wakes run after start/stop

	mu     sync.Mutex
	active bool
	gen    uint64 // bumped by start and stop; a timer of an older gen is ignored
	sched  garpSchedule
	// quiet: silence was called and resume not since; start does
	// nothing meanwhile.
	quiet bool
}

func newAnnouncer(c clock.Clock, cfg GARPConfig, announce func(now time.Time, probe bool)) *announcer {
	return &announcer{clock: c, cfg: cfg, announce: announce, kick: make(chan struct{}, 1)}
}

// start (re)starts the schedule: the first announcement is made before
// start returns; run makes the others.
func (a *announcer) start() {
	now := a.clock.Now()
	a.mu.Lock()
	if a.quiet {
		a.mu.Unlock()
		return
	}
	a.active = true
	a.gen++
	a.sched = garpSchedule{cfg: a.cfg}
	a.sched.sent(now)
	a.mu.Unlock()
	a.announce(now, false)
	a.wake()
}

// stop ends the schedule. An announcement run decided on just before stop
// may still be delivered after stop returns; announce must check its own
// state (VIPSet.announce checks that the VIPs are held).
func (a *announcer) stop() {
	a.mu.Lock()
	a.active = false
	a.gen++
	a.mu.Unlock()
	a.wake()
}

// silence stops the schedule, and keeps start from starting it again
// until resume: an Acquire that was under way when its router gave way
// must not announce as it ends.
func (a *announcer) silence() {
	a.mu.Lock()
	a.quiet = true
	a.mu.Unlock()
	a.stop()
}

// resume lets start start the schedule again (it starts nothing itself).
func (a *announcer) resume() {
	a.mu.Lock()
	a.quiet = false
	a.mu.Unlock()
}

func (a *announcer) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// run makes the scheduled announcements until ctx is done.
func (a *announcer) run(ctx context.Context) error {
	for {
		a.mu.Lock()
		gen := a.gen
		at, ok := a.sched.next()
		ok = ok && a.active
		a.mu.Unlock()

		var tc <-chan time.Time
		var t clock.Timer
		if ok {
			t = a.clock.NewTimerAt(at)
			tc = t.C()
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return nil
		case <-a.kick:
			if t != nil {
				t.Stop()
			}
		case <-tc:
			now := a.clock.Now()
			a.mu.Lock()
			fire := a.active && a.gen == gen
			probe := a.sched.refreshing() && !a.sched.cfg.NoProbe
			if fire {
				a.sched.sent(now)
			}
			a.mu.Unlock()
			if fire {
				a.announce(now, probe)
			}
		}
	}
}
