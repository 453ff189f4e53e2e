package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// sessionMove is one move of a backend's clients (control.SessionMove).
// Its fields are guarded by Daemon.mu; its goroutine is a part of the
// daemon, parented to the daemon's stop.
type sessionMove struct {
	control.SessionMove
}

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
	if rate < 1 || rate > MaxMoveRate {
		return control.SessionMove{}, fmt.Errorf("moving sessions: rate %d: want 1..%d sessions a second", rate, MaxMoveRate)
	}
	select {
	case <-d.ready:
	default:
		return control.SessionMove{}, fmt.Errorf("moving the sessions of %s: the daemon is still starting; ask again once it is ready", key)
	}
	select {
	case <-d.stopping:
		return control.SessionMove{}, fmt.Errorf("moving the sessions of %s: the daemon is stopping", key)
	default:
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
	d.moves = slices.DeleteFunc(d.moves, func(m *sessionMove) bool {
		return !m.Running() && (m.Backend == id || now.Sub(m.Ended) > moveKept)
	})
	for _, m := range d.moves {
		if m.Backend == id {
			m.Rate = rate
			d.log.Info("operator changed the rate of a move of sessions", zap.Stringer("backend", id), zap.Int("rate", rate))
			ans := m.SessionMove
			ans.StateFileNote = note
			return ans, nil
		}
	}
	m := &sessionMove{control.SessionMove{Backend: id, Rate: rate, Since: now, Sessions: left, Left: left}}
	d.moves = append(d.moves, m)
	if left == 0 {
		m.Ended, m.Outcome = now, control.OutcomeMoved
	} else {
		d.log.Info("operator moves the sessions of a backend", zap.Stringer("backend", id), zap.Int("sessions", left), zap.Int("rate", rate))
		d.parts.start(d.stop, "moving the sessions of "+id.String(), false, func(ctx context.Context) error {
			d.runMove(ctx, m)
			return nil
		})
	}
	ans := m.SessionMove
	ans.StateFileNote = note
	return ans, nil
}

// runMove closes m's backend's sessions at m's rate until the move ends
// (see MoveSessions) or ctx is done (the daemon stops).
func (d *Daemon) runMove(ctx context.Context, m *sessionMove) {
	pace := movePace{last: d.clock.Now()}
	t := d.clock.NewTimer(moveTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.endMove(m, "the daemon began to stop")
			return
		case <-t.C():
		}
		if outcome, done := d.moveStep(ctx, m, &pace); done {
			d.endMove(m, outcome)
			return
		}
		t.Reset(moveTick)
	}
}

// moveStep closes m's share of sessions now and records the outcome; it
// returns the move's outcome once it is over.
func (d *Daemon) moveStep(ctx context.Context, m *sessionMove, pace *movePace) (string, bool) {
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
	if b.State != backend.Drain && b.State != backend.Down {
		return fmt.Sprintf("the backend left DRAIN (now %s)", b.State), true
	}
	sctx, cancel := context.WithTimeout(ctx, moveStepTimeout)
	defer cancel()
	moved, left, err := l.MoveSessions(sctx, id.Name, pace.take(d.clock.Now(), rate))
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
func (d *Daemon) endMove(m *sessionMove, outcome string) {
	d.mu.Lock()
	m.Ended, m.Outcome = d.clock.Now(), outcome
	s := m.SessionMove
	d.mu.Unlock()
	d.log.Info("move of sessions ended", zap.Stringer("backend", s.Backend), zap.String("outcome", outcome),
		zap.Int("moved", s.Moved), zap.Int("left", s.Left), zap.Duration("took", s.Ended.Sub(s.Since)))
}

// statusMovesLocked returns the moves under way and those that ended within
// moveKept, for the status. Called with d.mu held.
func (d *Daemon) statusMovesLocked() []control.SessionMove {
	now := d.clock.Now()
	var out []control.SessionMove
	for _, m := range d.moves {
		if m.Running() || now.Sub(m.Ended) <= moveKept {
			out = append(out, m.SessionMove)
		}
	}
	return out
}
