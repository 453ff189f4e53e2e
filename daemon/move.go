package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
)

// Bounds of a move's rate (sessions closed per second), and its default.
const (
	DefaultMoveRate = 10
	MaxMoveRate     = 1000
)

// moveTick is how often a move closes its share of sessions; moveKept
// is how long status lists a move after it ended.
const (
	moveTick = 100 * time.Millisecond
	moveKept = 10 * time.Minute
)

// moveStepTimeout bounds one step's wait for the event loops.
const moveStepTimeout = 5 * time.Second

// movePace meters a move: a rate a second, with the fraction carried
// from one tick to the next and no burst above one second's worth (a
// move that could not close for a while does not make up for it).
type movePace struct {
	last   time.Time
	credit float64
}

// take returns how many sessions may be closed at now, at rate a second.
func (p *movePace) take(now time.Time, rate int) int {
	if !p.last.IsZero() && now.After(p.last) {
		p.credit = min(p.credit+float64(rate)*now.Sub(p.last).Seconds(), float64(rate))
	}
	p.last = now
	n := int(p.credit)
	p.credit -= float64(n)
	return n
}

// MoveSessions moves the clients of backend key ("LISTENER/BACKEND") to
// the other backends of its listener at rate sessions a second: it puts
// the backend in DRAIN (written to the state file as `backend drain`
// is) and closes its sessions at that pace (balancer.Listener.
// MoveSessions), until it has none. The move ends early when the backend
// leaves DRAIN (ready or maint; a DRAIN backend whose checks fail is
// DOWN and the move goes on) or the configuration, or when the daemon
// begins to stop (an upgrade in place too: the old process finishes the
// sessions left as it finishes every session). While no other backend
// of the listener could take a client it closes none (Paused). It is
// refused when no other backend serves at the start. A move asked for
// while one runs for the backend changes its rate. The answer is the
// move as it began (or as it runs).
func (d *Daemon) MoveSessions(key string, rate int) (control.SessionMove, error) {
	if err := d.mayBeginPaced("moving the sessions of "+key, rate); err != nil {
		return control.SessionMove{}, err
	}
	id, l, err := d.backendListener(key, false)
	if err != nil {
		return control.SessionMove{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), moveStepTimeout)
	defer cancel()
	_, left, err := l.MoveSessions(ctx, id.Name, 0) // counts them
	switch {
	case errors.Is(err, balancer.ErrNowhereToMove):
		return control.SessionMove{}, fmt.Errorf("moving the sessions of %s: no other backend of listener %s serves: its clients would have nowhere to go", id, id.Listener)
	case errors.Is(err, balancer.ErrUnknownBackend):
		return control.SessionMove{}, fmt.Errorf("no backend %s", id)
	case err != nil:
		return control.SessionMove{}, err
	}
	if _, err := d.setAdmin(key, "drain", ""); err != nil {
		return control.SessionMove{}, err
	}
	note := stateFileNote(d.saveOpState())

	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	var running *control.SessionMove
	d.moves, running = pruneEnded(d.moves, now, func(m *control.SessionMove) (time.Time, bool) { return m.Ended, m.Backend == id })
	if running != nil {
		running.Rate = rate
		d.log.Info("operator changed the rate of a move of sessions", zap.Stringer("backend", id), zap.Int("rate", rate))
		ans := *running
		ans.StateFileNote = note
		return ans, nil
	}
	m := &control.SessionMove{Backend: id, Rate: rate, Since: now, Sessions: left, Left: left}
	d.moves = append(d.moves, m)
	if left == 0 {
		m.Ended, m.Outcome = now, control.OutcomeMoved
	} else {
		d.log.Info("operator moves the sessions of a backend", zap.Stringer("backend", id), zap.Int("sessions", left), zap.Int("rate", rate))
		d.parts.start(d.stop, "moving the sessions of "+id.String(), false, func(ctx context.Context) error {
			d.runPaced(ctx, func(pace *movePace) (string, bool) { return d.moveStep(ctx, m, pace) }, func(outcome string) { d.endMove(m, outcome) })
			return nil
		})
	}
	ans := *m
	ans.StateFileNote = note
	return ans, nil
}

// runPaced runs step every moveTick with the pace of a move (or of a
// rebalance) until step says it is over or ctx is done (the daemon
// stops), then calls end with the outcome.
func (d *Daemon) runPaced(ctx context.Context, step func(*movePace) (outcome string, done bool), end func(outcome string)) {
	pace := movePace{last: d.clock.Now()}
	t := d.clock.NewTimer(moveTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			end("the daemon began to stop")
			return
		case <-t.C():
		}
		if outcome, done := step(&pace); done {
			end(outcome)
			return
		}
		t.Reset(moveTick)
	}
}

// moveStep closes m's share of sessions now and records the outcome; it
// returns the move's outcome once it is over.
func (d *Daemon) moveStep(ctx context.Context, m *control.SessionMove, pace *movePace) (string, bool) {
	d.mu.Lock()
	id, rate := m.Backend, m.Rate
	d.mu.Unlock()
	_, l, err := d.backendListener(id.String(), false)
	if err != nil {
		return "the backend was removed from the configuration", true
	}
	b, ok := l.Snapshot().Backend(id.Name)
	if !ok {
		return "the backend was removed from the configuration", true
	}
	// A checked backend's state as its checks and the operator set it:
	// the listener learns it a moment later.
	st, checked := d.sched.State(id)
	if !checked {
		st = b.State
	}
	if st != backend.Drain && st != backend.Down {
		return fmt.Sprintf("the backend left DRAIN (now %s)", st), true
	}
	n := pace.take(d.clock.Now(), rate)
	if b.State.Serving() {
		n = 0 // the listener has not applied the drain yet: a client closed now could come back
	}
	sctx, cancel := context.WithTimeout(ctx, moveStepTimeout)
	defer cancel()
	moved, left, err := l.MoveSessions(sctx, id.Name, n)
	paused := ""
	switch {
	case errors.Is(err, balancer.ErrNowhereToMove):
		paused = fmt.Sprintf("no other backend of listener %s serves", id.Listener)
		pace.credit = 0
	case err != nil:
		d.log.Warn("moving sessions", zap.Stringer("backend", id), zap.Error(err))
	}
	d.mu.Lock()
	m.Moved += moved
	m.Left = left
	if paused != m.Paused {
		d.log.Info("move of sessions", zap.Stringer("backend", id), zap.String("paused", paused), zap.Int("left", left))
	}
	m.Paused = paused
	d.mu.Unlock()
	if err == nil && left == 0 {
		return control.OutcomeMoved, true
	}
	return "", false
}

// endMove records how m ended and logs it.
func (d *Daemon) endMove(m *control.SessionMove, outcome string) {
	d.mu.Lock()
	m.Ended, m.Outcome = d.clock.Now(), outcome
	s := *m
	d.mu.Unlock()
	d.log.Info("move of sessions ended", zap.Stringer("backend", s.Backend), zap.String("outcome", outcome),
		zap.Int("moved", s.Moved), zap.Int("left", s.Left), zap.Duration("took", s.Ended.Sub(s.Since)))
}

// statusMovesLocked returns the moves under way and those that ended within
// moveKept, for the status. Called with d.mu held.
func (d *Daemon) statusMovesLocked() []control.SessionMove {
	return recentOf(d.moves, d.clock.Now(), func(m *control.SessionMove) (time.Time, control.SessionMove) { return m.Ended, *m })
}

// pruneEnded drops from list what ended more than moveKept before now,
// and what ended and is of the same backend or listener as one about to
// begin, and returns the entry of that one still running, if any; of is
// when an entry ended (zero: it runs) and whether it is of that one.
func pruneEnded[T any](list []*T, now time.Time, of func(*T) (ended time.Time, same bool)) (kept []*T, running *T) {
	kept = slices.DeleteFunc(list, func(e *T) bool {
		ended, same := of(e)
		if same && ended.IsZero() {
			running = e
		}
		return !ended.IsZero() && (same || now.Sub(ended) > moveKept)
	})
	return kept, running
}

// recentOf returns, for the status, the entries of list under way and
// those that ended within moveKept; of is when an entry ended (zero: it
// runs) and its value.
func recentOf[T, V any](list []*T, now time.Time, of func(*T) (time.Time, V)) []V {
	var out []V
	for _, e := range list {
		if ended, v := of(e); ended.IsZero() || now.Sub(ended) <= moveKept {
			out = append(out, v)
		}
	}
	return out
}

// mayBeginPaced returns why a move or a rebalance (what) at rate cannot
// begin now: a rate out of bounds, the daemon still starting (its parts
// would have no owner yet), or stopping.
func (d *Daemon) mayBeginPaced(what string, rate int) error {
	if rate < 1 || rate > MaxMoveRate {
		return fmt.Errorf("%s: rate %d: want 1..%d sessions a second", what, rate, MaxMoveRate)
	}
	select {
	case <-d.ready:
	default:
		return fmt.Errorf("%s: the daemon is still starting; ask again once it is ready", what)
	}
	select {
	case <-d.stopping:
		return fmt.Errorf("%s: the daemon is stopping", what)
	default:
	}
	return nil
}

// parseRate reads the optional RATE argument of a move or a rebalance
// (none: DefaultMoveRate); bounds are mayBeginPaced's.
func parseRate(args []string) (int, error) {
	if len(args) == 0 {
		return DefaultMoveRate, nil
	}
	r, err := strconv.Atoi(args[0])
	if err != nil {
		return 0, fmt.Errorf("parsing rate %q: want 1..%d sessions a second", args[0], MaxMoveRate)
	}
	return r, nil
}
