package balancer

import "go.uber.org/zap"

// pacing is a loop's share of connect pacing (Config.MaxConnecting): the
// connect slots its sessions hold per backend and the queue of its clients
// waiting for one. Each loop paces its own sessions with
// ceil(MaxConnecting/loops) slots per backend, so that no lock or message
// between loops is needed. It is owned by the loop's goroutine.
type pacing struct {
	nloops int
	// busy is the loop's isBusy as a func value, made once.
	busy func(*backend) bool
	// connecting counts, per backend, the loop's sessions holding a slot;
	// a backend is in it only while the count is above 0.
	connecting map[*backend]int
	// waiters[head:] is the queue, oldest first. An entry whose session
	// left the queue (closed, timed out) is stale: its session no longer
	// waits, or its client token changed when the session was reused.
	waiters  []waiter
	head     int
	nwaiting int // live entries of waiters
	// wake: a slot freed while clients wait; wakeWaiters runs at the end
	// of the loop's turn (never inside a session's own call chain).
	wake bool
}

// waiter is a queued session and the token of its client socket, which
// tells a stale entry apart once the session is reused.
type waiter struct {
	s   *session
	tok uint32
}

// busyFunc returns the predicate that chooseWith passes over backends
// with: nil while pacing is off.
func (lp *loop) busyFunc(p *params) func(*backend) bool {
	if p.maxConnecting <= 0 {
		return nil
	}
	if lp.pacing.busy == nil {
		lp.pacing.busy = lp.isBusy
	}
	return lp.pacing.busy
}

// isBusy reports whether the loop's sessions hold all of its slots of b.
func (lp *loop) isBusy(b *backend) bool {
	limit := lp.l.params.Load().maxConnecting
	if limit <= 0 {
		return false
	}
	n := max(lp.pacing.nloops, 1)
	return lp.pacing.connecting[b] >= (limit+n-1)/n
}

// takeSlot makes s, whose connect to s.be starts now, hold a slot of
// s.be while pacing is on.
func (lp *loop) takeSlot(s *session, p *params) {
	if p.maxConnecting <= 0 || s.be == nil {
		return
	}
	if lp.pacing.connecting == nil {
		lp.pacing.connecting = map[*backend]int{}
	}
	lp.pacing.connecting[s.be]++
	s.paced = true
}

// releaseSlot gives back the slot s holds, if any: its backend sent its
// first byte, closed or failed, or the session ends. It wakes the queue at
// the end of the turn.
func (lp *loop) releaseSlot(s *session) {
	if !s.paced {
		return
	}
	s.paced = false
	if n := lp.pacing.connecting[s.be] - 1; n > 0 {
		lp.pacing.connecting[s.be] = n
	} else {
		delete(lp.pacing.connecting, s.be)
	}
	if lp.pacing.nwaiting > 0 {
		lp.pacing.wake = true
	}
}

// enqueue puts s, a client every usable backend of which is busy, at the
// end of the loop's queue. Its deadline is Config.QueueTimeout after it was
// accepted, however often it is queued again.
func (lp *loop) enqueue(s *session, p *params) {
	pc := &lp.pacing
	s.waiting = true
	pc.waiters = append(pc.waiters, waiter{s: s, tok: s.cli.tok})
	pc.nwaiting++
	lp.l.queued.Add(1)
	lp.timers.set(s, later(s.accepted, p.queueTimeout))
}

// dequeue takes s out of the queue (its entry goes stale) and stops its
// queue timer.
func (lp *loop) dequeue(s *session) {
	if !s.waiting {
		return
	}
	s.waiting = false
	lp.pacing.nwaiting--
	lp.l.queued.Add(-1)
	lp.timers.stop(s)
}

// dropStale empties the queue's slice once no entry is live.
func (lp *loop) dropStale() {
	pc := &lp.pacing
	if pc.nwaiting == 0 && len(pc.waiters) > 0 {
		clear(pc.waiters)
		pc.waiters, pc.head = pc.waiters[:0], 0
	}
}

// leavePacing gives back what a closing session holds of pacing: its slot
// or its place in the queue.
func (lp *loop) leavePacing(s *session) {
	if s.waiting {
		lp.dequeue(s)
		lp.dropStale()
	}
	lp.releaseSlot(s)
}

// queueTimedOut closes s, which waited Config.QueueTimeout for a slot.
func (s *session) queueTimedOut() {
	l := s.lp.l
	l.queueTimeouts.Add(1)
	l.log.Debug("closing client: no connect slot within the queue timeout", zap.Stringer("client", s.client))
	s.close(EndQueueTimeout)
}

// wakeWaiters, once slots freed this turn, connects the queued clients in
// order until one finds every usable backend busy again; that one goes
// back to the head of the queue.
func (lp *loop) wakeWaiters() {
	pc := &lp.pacing
	if !pc.wake {
		return
	}
	pc.wake = false
	for pc.nwaiting > 0 && pc.head < len(pc.waiters) {
		w := pc.waiters[pc.head]
		pc.waiters[pc.head] = waiter{}
		pc.head++
		s := w.s
		if !s.waiting || s.cli.tok != w.tok {
			continue // stale
		}
		lp.dequeue(s)
		s.connectNext()
		if s.waiting {
			// Queued again at the end: put it back in its place.
			pc.waiters[len(pc.waiters)-1] = waiter{}
			pc.waiters = pc.waiters[:len(pc.waiters)-1]
			pc.head--
			pc.waiters[pc.head] = waiter{s: s, tok: s.cli.tok}
			return
		}
	}
	lp.dropStale()
}
