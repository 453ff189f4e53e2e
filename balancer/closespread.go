package balancer

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// spreadTick is how often spreadCloses closes its next few sessions: at
// most a tenth of the spread, so that a short spread is still spread.
const spreadTick = 100 * time.Millisecond

// spreadCloses closes the sessions still open over spread, the last part
// of a stop's GracefulTimeout: at each tick it closes as many as keep the
// sessions left at most the share of spread still to run of those open
// when it began (a session that ends by itself counts), so that the last
// are closed as spread ends, where the stop closes whatever is left. It
// returns once none is left or spread has passed, or with the error of a
// loop that fails meanwhile. It runs on Run's goroutine, the clock's
// timers its only wait.
func (l *Listener) spreadCloses(spread time.Duration, errc <-chan error) error {
	total := l.active.Load()
	if total <= 0 {
		return nil
	}
	l.mu.Lock()
	loops := l.loops
	l.mu.Unlock()
	l.log.Info("closing the sessions left, spread over close_spread", zap.Int64("active", total), zap.Duration("close_spread", spread))
	tick := min(spreadTick, max(spread/10, time.Millisecond))
	start := l.clock.Now()
	t := l.clock.NewTimer(tick)
	defer t.Stop()
	for {
		select {
		case <-l.drained:
			return nil
		case err := <-errc:
			return err
		case <-t.C():
		}
		elapsed := l.clock.Now().Sub(start)
		if elapsed >= spread {
			return nil
		}
		// Left at most total x (spread - elapsed) / spread, rounded up.
		keep := (total*int64(spread-elapsed) + int64(spread) - 1) / int64(spread)
		if n := l.active.Load() - keep; n > 0 {
			// Every loop answers: a loop's queued commands run even as
			// it exits (see loop.run).
			closeAcross(context.Background(), loops, int(n), func(*session) bool { return true }, l.stopEnd())
		}
		t.Reset(min(tick, spread-elapsed))
	}
}
