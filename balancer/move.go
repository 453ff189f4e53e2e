package balancer

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrNowhereToMove is returned by MoveSessions while no other backend of
// the listener could take a new client: the clients of the sessions it
// would close would be refused, or come back to the same backend.
var ErrNowhereToMove = errors.New("no other backend serves")

// MoveSessions closes at most n sessions of backend name, those still
// connecting to it included, so that their clients reconnect and are
// balanced to the other backends: one step of an operator's paced move
// of a backend's clients, which the caller repeats at its pace while the
// backend takes no new client (DRAIN). Sessions already closing are left
// to end by themselves. It returns how many it closed and how many
// sessions of the backend are left, closing ones included. Each closed
// session ends in order (the client gets what the broker sent, then a
// FIN) and is logged with the reason EndMoved.
//
// It closes none and returns ErrNowhereToMove while no other backend of
// the listener could take a new client (none other usable: each DOWN,
// DRAIN, MAINT, at weight 0, at its maxconn or its broker at its
// connection limit), and ErrUnknownBackend
// for a name that is not a configured backend of the listener. The
// event loops are asked one after another, each to close what the ones
// before left of n; it returns ctx's error, with the counts so far, if
// a loop has not answered when ctx is done. Safe from any goroutine.
func (l *Listener) MoveSessions(ctx context.Context, name string, n int) (moved, left int, err error) {
	l.mu.Lock()
	b := l.backendLocked(name)
	elsewhere := slices.ContainsFunc(l.pool.backends, func(o *backend) bool { return o != b && o.usable() })
	loops, lname := l.loops, l.cfg.Name
	l.mu.Unlock()
	if b == nil {
		return 0, 0, fmt.Errorf("moving sessions of backend %q: %w", name, ErrUnknownBackend)
	}
	if !elsewhere {
		n = 0 // count them only
	}
	moved, left, err = closeAcross(ctx, loops, n, func(s *session) bool { return s.be == b }, EndMoved)
	if err != nil {
		return moved, left, fmt.Errorf("moving sessions of backend %s/%s: an event loop did not answer: %w", lname, name, err)
	}
	if !elsewhere {
		return 0, left, fmt.Errorf("moving sessions of backend %s/%s: %w", lname, name, ErrNowhereToMove)
	}
	return moved, left, nil
}

// closeAcross closes at most n of the sessions that match selects, those
// already closing left alone, asking the event loops one after another,
// each to close what the ones before left of n; each closed session ends
// in order, for why. It returns how many it closed and how many matching
// sessions are left, closing ones included, with ctx's error (and the
// counts so far) if a loop has not answered when ctx is done. A loop that
// has exited is passed over.
func closeAcross(ctx context.Context, loops []*loop, n int, match func(*session) bool, why EndReason) (closed, left int, err error) {
	type answer struct{ closed, left int }
	for _, lp := range loops {
		budget := n - closed
		answers, err := askLoops(ctx, []*loop{lp}, func(lp *loop) answer {
			c, k := lp.closeUpTo(budget, match, why)
			return answer{c, k}
		})
		for _, a := range answers {
			closed, left = closed+a.closed, left+a.left
		}
		if err != nil {
			return closed, left, err
		}
	}
	return closed, left, nil
}

// closeUpTo closes at most n of the loop's sessions that match selects
// and that are not closing already, each in order for why, and returns
// how many it closed and how many matching sessions it has left. It runs
// on the loop.
func (lp *loop) closeUpTo(n int, match func(*session) bool, why EndReason) (closed, left int) {
	for s := lp.head; s != nil; {
		next := s.next
		if match(s) {
			if closed < n && !s.c2s.ended && !s.s2c.ended {
				s.close(why)
				closed++
			} else {
				left++
			}
		}
		s = next
	}
	return closed, left
}

// Steer makes the listener send its new clients to the backend with the
// fewest sessions for its weight (as PolicyLeastConn does) whatever its
// policy, while on: an operator's rebalance turns it on while it runs,
// so that the clients it closes reconnect where sessions are missing
// rather than in turn to every backend, the busiest included. A reload
// keeps it. Safe from any goroutine.
func (l *Listener) Steer(on bool) {
	l.mu.Lock()
	l.pool.steer = on
	l.mu.Unlock()
}
