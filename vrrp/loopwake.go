package vrrp

import "time"

// loopWake is the bookkeeping of a loop that reads its socket itself (the
// real-time and the polled loop) from one wake-up to the next: when to
// wake, and what to do on waking once the adverts waiting were read. It
// is owned by the loop's goroutine.
type loopWake struct {
	i       *Instance
	tr, own *IPv4Transport // see runPolled
	ow      *ownerWorker
	// retryAt is when to run applyDesired again while the transport
	// cannot follow a re-created interface yet (zero: no retry due).
	retryAt time.Time
	// deadline (ok: set) is the machine's next deadline when next was
	// last called.
	deadline time.Time
	ok       bool
}

// start applies what may have changed before the loop could be woken.
func (w *loopWake) start() {
	if w.i.applyDesired(w.tr, w.ow, w.own) {
		w.retryAt = w.i.clock.Now().Add(w.i.cfg.AdvertInterval)
	}
}

// next returns when the loop must wake (false: only for an advert or a
// kick): the machine's next wake-up (see nextWake), or the retry if that
// comes first.
func (w *loopWake) next() (time.Time, bool) {
	var wake time.Time
	var ok bool
	wake, ok, w.deadline, w.ok = w.i.nextWake()
	if !w.retryAt.IsZero() && (!ok || w.retryAt.Before(wake)) {
		wake, ok = w.retryAt, true
	}
	return wake, ok
}

// woken handles a wake-up after the adverts waiting were read (adverts
// first: one that arrived with the timer must be seen before it, or a
// backup whose master-down timer fires at that moment would take over for
// one advert interval): the desired state when kicked, the retry when
// due, and the machine's timer when its deadline passed.
func (w *loopWake) woken(kicked bool) {
	i := w.i
	if kicked && i.applyDesired(w.tr, w.ow, w.own) && w.retryAt.IsZero() {
		w.retryAt = i.clock.Now().Add(i.cfg.AdvertInterval)
	}
	now := i.clock.Now()
	if !w.retryAt.IsZero() && !now.Before(w.retryAt) {
		w.retryAt = time.Time{}
		if i.applyDesired(w.tr, w.ow, w.own) {
			w.retryAt = now.Add(i.cfg.AdvertInterval)
		}
	}
	if w.ok && !now.Before(w.deadline) {
		i.step(w.tr, w.ow, Tick{})
	}
}
