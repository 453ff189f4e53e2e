package daemon

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
)

// rebalance is one rebalance of a listener's sessions (control.Rebalance).
// Its fields are guarded by Daemon.mu, but peak and lastClose, which only
// its goroutine uses once it runs (a part of the daemon, parented to the
// daemon's stop). limit bounds the sessions it
// closes: three times those above the shares at its start, and ten more.
// window is how many closed clients may be on their way back at once:
// half the sessions above the shares at the start, at most the rate, at
// least one. peak is the most sessions the serving backends held since
// it began (those on their way back are peak less the sessions now),
// and lastClose when it last closed one.
type rebalance struct {
	control.Rebalance
	limit, window, peak int
	lastClose           time.Time
	// steered is the listener the last step steered (balancer.
	// Listener.Steer), which the end lets go; only the goroutine uses it.
	steered *balancer.Listener
}

// rebalanceSettle is how long a rebalance waits for the clients it
// closed to come back before it takes them for gone.
const rebalanceSettle = 10 * time.Second

// balanceView is where a listener's serving backends (UP or DEGRADED,
// at a weight above 0, not a backup, not looping back, not at their
// broker's connection limit) stand against
// their shares by weight of the sessions they hold: shares lists them,
// total counts their sessions and above those above the shares; from
// is the one to close sessions of now (the furthest above its share;
// "" when every one is within its tolerance: its share and a tenth of
// it, at least one session) and excess how many it holds above its
// share. A DRAIN or MAINT backend's sessions are not counted: they are
// on their way out.
type balanceView struct {
	shares       []control.BackendShare
	total, above int
	from         string
	excess       int
}

// rebalancePlan looks at a listener's backends (see balanceView).
func rebalancePlan(bs []balancer.BackendSnapshot) balanceView {
	var v balanceView
	weights := 0
	for _, b := range bs {
		if servesShare(b) {
			v.total += b.Active
			weights += b.Weight
		}
	}
	best := 0.0
	for _, b := range bs {
		if !servesShare(b) {
			continue
		}
		share := float64(v.total) * float64(b.Weight) / float64(weights)
		v.shares = append(v.shares, control.BackendShare{Backend: b.Name, Sessions: b.Active, Share: math.Round(share*10) / 10})
		over := float64(b.Active) - share
		if over <= max(1, share/10) {
			continue
		}
		v.above += int(over)
		if over > best {
			best, v.from, v.excess = over, b.Name, int(over)
		}
	}
	return v
}

// servesShare reports whether b is one of the backends a rebalance
// spreads the sessions over.
func servesShare(b balancer.BackendSnapshot) bool {
	return b.State.Serving() && b.Weight > 0 && !b.LoopsBack && !b.Backup && !b.BrokerFull
}

// Rebalance spreads the sessions of listener name over its serving
// backends by weight again, at rate sessions a second: while a backend
// holds more than its share (and a tenth), it closes sessions of the one
// furthest above, so that their clients reconnect through the VIP and
// are balanced again: while it runs the listener sends its new clients
// to the backend with the fewest sessions for its weight, whatever its
// policy (balancer.Listener.Steer). It waits for the clients it closed
// to come back before it closes more or judges the balance (see
// rebalanceStep). It ends once every serving backend is within its
// share, after it closed three times the sessions above the shares at
// its start (and ten more), when the listener is removed, or when the
// daemon begins to stop; it pauses while fewer than two backends serve.
// It is refused for a listener that pins its clients to a backend
// (persistence_timeout), whose clients would come back to the same one,
// and for one with fewer than two serving backends. A rebalance asked
// for while one runs for the listener changes its rate.
func (d *Daemon) Rebalance(name string, rate int) (control.Rebalance, error) {
	if err := d.mayBeginPaced("rebalancing listener "+name, rate); err != nil {
		return control.Rebalance{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	lc, ok := d.cfg.Listener(name)
	u := d.listeners[name]
	if !ok || u == nil {
		return control.Rebalance{}, fmt.Errorf("rebalancing: no listener %s", name)
	}
	if lc.PersistenceTimeout > 0 {
		return control.Rebalance{}, fmt.Errorf("rebalancing listener %s: it pins each client to a backend (persistence_timeout %v): the clients would reconnect to the same one", name, lc.PersistenceTimeout)
	}
	v := rebalancePlan(u.l.Snapshot().Backends)
	if len(v.shares) < 2 {
		return control.Rebalance{}, fmt.Errorf("rebalancing listener %s: %d of its backends serve, want two at least", name, len(v.shares))
	}
	now := d.clock.Now()
	var running *rebalance
	d.rebalances, running = pruneEnded(d.rebalances, now, func(r *rebalance) (time.Time, bool) { return r.Ended, r.Listener == name })
	if running != nil {
		running.Rate = rate
		d.log.Info("operator changed the rate of a rebalance", zap.String("listener", name), zap.Int("rate", rate))
		return running.Rebalance, nil
	}
	r := &rebalance{Rebalance: control.Rebalance{Listener: name, Rate: rate, Since: now, Shares: v.shares},
		limit: 3*v.above + 10, window: max(1, min(rate, v.above/2)), peak: v.total}
	d.rebalances = append(d.rebalances, r)
	if v.from == "" {
		r.Ended, r.Outcome = now, control.OutcomeBalanced
		return r.Rebalance, nil
	}
	d.log.Info("operator rebalances the sessions of a listener", zap.String("listener", name), zap.Int("above_shares", v.above), zap.Int("rate", rate))
	d.parts.start(d.stop, "rebalancing listener "+name, false, func(ctx context.Context) error {
		d.runPaced(ctx, func(pace *movePace) (string, bool) { return d.rebalanceStep(ctx, r, pace) }, func(outcome string) { d.endRebalance(r, outcome) })
		return nil
	})
	return r.Rebalance, nil
}

// rebalanceStep closes r's share of sessions now and records where the
// backends stand; it returns the outcome once the rebalance is over. It
// closes no more while window closed clients are on their way back, and
// judges the balance only once they are back (all but a twentieth), or
// rebalanceSettle after the last close (those missing then are taken for
// gone).
func (d *Daemon) rebalanceStep(ctx context.Context, r *rebalance, pace *movePace) (string, bool) {
	d.mu.Lock()
	name, rate, moved := r.Listener, r.Rate, r.Moved
	u := d.listeners[name]
	_, configured := d.cfg.Listener(name)
	d.mu.Unlock()
	if u == nil || !configured {
		return "the listener was removed from the configuration", true
	}
	if r.steered != u.l {
		// The clients closed reconnect where sessions are missing,
		// whatever the policy (a reload may have replaced the listener).
		if r.steered != nil {
			r.steered.Steer(false)
		}
		u.l.Steer(true)
		r.steered = u.l
	}
	now := d.clock.Now()
	v := rebalancePlan(u.l.Snapshot().Backends)
	n := pace.take(now, rate)
	r.peak = max(r.peak, v.total)
	if now.Sub(r.lastClose) >= rebalanceSettle {
		r.peak = v.total // those not back by now are gone
	}
	away := r.peak - v.total
	settled := away <= r.peak/20
	paused, outcome := "", ""
	closed := 0
	switch {
	case len(v.shares) < 2:
		paused = "fewer than two of the listener's backends serve"
		pace.credit = 0
	case v.from == "" && settled:
		outcome = control.OutcomeBalanced
	case moved >= r.limit && settled:
		outcome = fmt.Sprintf("stopped after moving %d sessions, three times those above the shares at its start and ten more: the sessions do not even out", moved)
	case v.from == "" || moved >= r.limit || away >= r.window:
		paused = fmt.Sprintf("waiting for %s to reconnect", clientsCount(away))
		pace.credit = 0
	default:
		sctx, cancel := context.WithTimeout(ctx, moveStepTimeout)
		var err error
		closed, _, err = u.l.MoveSessions(sctx, v.from, min(n, v.excess, r.window-away, r.limit-moved))
		cancel()
		switch {
		case errors.Is(err, balancer.ErrNowhereToMove):
			paused = "no other backend serves"
			pace.credit = 0
		case err != nil:
			d.log.Warn("rebalancing sessions", zap.String("listener", name), zap.String("backend", v.from), zap.Error(err))
		}
		if closed > 0 {
			r.lastClose = now
		}
	}
	d.mu.Lock()
	r.Moved += closed
	r.Shares = v.shares
	r.Paused = paused
	d.mu.Unlock()
	return outcome, outcome != ""
}

// clientsCount is "1 closed client" or "N closed clients".
func clientsCount(n int) string {
	if n == 1 {
		return "1 closed client"
	}
	return fmt.Sprintf("%d closed clients", n)
}

// endRebalance records how r ended, lets its listener pick by its
// policy again, and logs it.
func (d *Daemon) endRebalance(r *rebalance, outcome string) {
	if r.steered != nil {
		r.steered.Steer(false)
	}
	d.mu.Lock()
	r.Ended, r.Outcome = d.clock.Now(), outcome
	s := r.Rebalance
	d.mu.Unlock()
	d.log.Info("rebalance ended", zap.String("listener", s.Listener), zap.String("outcome", outcome),
		zap.Int("moved", s.Moved), zap.Duration("took", s.Ended.Sub(s.Since)))
}

// statusRebalancesLocked returns the rebalances under way and those that
// ended within moveKept, for the status. Called with d.mu held.
func (d *Daemon) statusRebalancesLocked() []control.Rebalance {
	return recentOf(d.rebalances, d.clock.Now(), func(r *rebalance) (time.Time, control.Rebalance) { return r.Ended, r.Rebalance })
}

// rebalanceCommand runs a "rebalance LISTENER [RATE]" command.
func (d *Daemon) rebalanceCommand(args []string) (any, error) {
	if len(args) < 1 || len(args) > 2 {
		return nil, errors.New("usage: rebalance LISTENER [RATE]")
	}
	rate, err := parseRate(args[1:])
	if err != nil {
		return nil, err
	}
	return d.Rebalance(args[0], rate)
}
