package daemon

import (
	"fmt"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
)

// listenerPart is the kind of listener step that a reload lists as
// applied.
type listenerPart int

const (
	// partRemoved is a listener removed: it stopped accepting.
	partRemoved listenerPart = iota
	// partMetrics is the metrics endpoint moved to the file's address.
	partMetrics
	// partBound is a listener added, or moved, running on its new
	// address.
	partBound
	// partCheckRemoved is a backend's check removed.
	partCheckRemoved
	// partUpdated is a running listener's new settings or backends.
	partUpdated
	// partCheckSet is a backend's check added or updated.
	partCheckSet
)

// listenerStep is a step walkListeners reports applied: its part, with
// the listener change (partRemoved, partBound, partUpdated) or the check
// change (partCheckRemoved, partCheckSet) it applied.
type listenerStep struct {
	part     listenerPart
	listener ListenerChange
	check    CheckChange
}

// listenerDoer makes the listener and check changes of a reload, one step
// at a time, for walkListeners: the daemon's listeners and checks
// (Daemon.apply), or nothing, to say what a reload would do
// (describePlan). Each method that returns an error is called only for a
// step walkListeners found no reason to refuse, and its error refuses the
// step.
type listenerDoer interface {
	// stopAccepting stops the running listener of that name, which goes
	// away (removed, or moved): its sessions drain in the background.
	stopAccepting(name string)
	// moveMetrics moves the metrics endpoint to the file's address.
	moveMetrics() error
	// start runs the listener c adds or moves on its new address; when a
	// moved one cannot be bound there, it runs it on its old address
	// again, and restoreErr says why that failed too.
	start(c ListenerChange) (err, restoreErr error)
	// dropChecks removes the checks of listener l, which runs neither
	// where it went nor where it was.
	dropChecks(l *config.Listener)
	// removeCheck removes the check of backend id.
	removeCheck(id backend.ID) error
	// update gives the running listener of c its new settings and
	// backends.
	update(c ListenerChange) error
	// serveUnchecked puts backend id, whose check was removed and which
	// stays, back in service at its full weight: no check watches it.
	serveUnchecked(id backend.ID)
	// setCheck adds or updates the check of c.
	setCheck(c CheckChange) error
}

// walkListeners applies, through do, the listener and check changes of p
// in the order a reload takes them: the listeners that go away (removed,
// or moved) stop accepting before anything binds; then the metrics
// endpoint moves (a listener gone may leave it its address, and it may
// leave its own to a new listener); then the added and moved listeners
// bind; then the checks that go away, the listener updates (which add
// and remove backends) and the checks that come (an added backend's
// check finds its backend in the listener).
//
// A new address in binds (probeBinds: another socket holds it now) is
// refused before anything stops, so that a listener that cannot move
// runs on untouched, its sessions too. A moved listener whose new address
// cannot be bound all the same runs on its old address again; a listener
// that could not be added or moved keeps its checks as they were (its
// check changes are skipped), and one whose update failed gets no new
// check (the checks of the backends it loses went before), so that the
// running model stays what runs and the next reload tries again. Each
// refusal goes to refuse and into failed, and each step applied to
// applied, with the line a reload lists. nc is the file's model.
// Daemon.apply and describePlan both walk the changes with it, so that a
// dry run lists what a reload does in its words and order.
func walkListeners(p Plan, nc *config.Config, binds map[string]error, do listenerDoer, failed *leftovers,
	applied func(s listenerStep, line string), refuse func(what string, err error)) {
	for _, c := range p.Listeners {
		if (c.Op != OpRemove && c.Op != OpReplace) || binds[c.Name] != nil {
			continue
		}
		do.stopAccepting(c.Name)
		if c.Op == OpRemove {
			applied(listenerStep{part: partRemoved, listener: c}, fmt.Sprintf("listener %s removed", c.Name))
		}
	}
	if p.Metrics {
		if err := do.moveMetrics(); err != nil {
			refuse("metrics_listen", err)
			failed.metrics = true
		} else {
			applied(listenerStep{part: partMetrics}, metricsApplied(nc))
		}
	}
	for _, c := range p.Listeners {
		if c.Op != OpAdd && c.Op != OpReplace {
			continue
		}
		err, restoreErr := binds[c.Name], error(nil)
		if err == nil {
			err, restoreErr = do.start(c)
		}
		switch {
		case err == nil:
			applied(listenerStep{part: partBound, listener: c},
				fmt.Sprintf("listener %s %s on %s", c.Name, map[Op]string{OpAdd: "added", OpReplace: "moved"}[c.Op], c.New.Bind))
		case c.Op == OpAdd || restoreErr == nil:
			keep, why := unbound(c, err)
			refuse("listener "+c.Name, why)
			failed.listeners[c.Name] = keep
		default:
			// Nothing runs: the running model has no such listener,
			// nor its checks, so that the next reload of either file
			// (moved, or back to the old address) adds it afresh.
			refuse("listener "+c.Name, fmt.Errorf("%w; binding its old address %s again failed too: %v (the listener is gone; a reload adds it again)", err, c.Old.Bind, restoreErr))
			failed.listeners[c.Name] = nil
			do.dropChecks(c.Old)
		}
	}
	for _, c := range p.Checks {
		if c.Op != OpRemove || failed.listenerFailed(c.Backend.Listener) {
			continue
		}
		if err := do.removeCheck(c.Backend); err != nil {
			refuse("check of "+c.Backend.String(), err)
			continue
		}
		applied(listenerStep{part: partCheckRemoved, check: c}, fmt.Sprintf("check of %s removed", c.Backend))
	}
	for _, c := range p.Listeners {
		if c.Op != OpUpdate {
			continue
		}
		if err := do.update(c); err != nil {
			refuse("listener "+c.Name, err)
			failed.listeners[c.Name] = c.Old
			continue
		}
		applied(listenerStep{part: partUpdated, listener: c}, fmt.Sprintf("listener %s updated", c.Name))
	}
	// A backend that stays while its check goes is in service again
	// (unless its listener's changes failed: it keeps its check).
	for _, c := range p.Checks {
		if c.Op != OpRemove || failed.listenerFailed(c.Backend.Listener) {
			continue
		}
		if _, stays := nc.Backend(c.Backend); stays {
			do.serveUnchecked(c.Backend)
		}
	}
	for _, c := range p.Checks {
		if (c.Op != OpAdd && c.Op != OpUpdate) || failed.listenerFailed(c.Backend.Listener) {
			continue
		}
		if err := do.setCheck(c); err != nil {
			refuse("check of "+c.Backend.String(), err)
			continue
		}
		applied(listenerStep{part: partCheckSet, check: c}, fmt.Sprintf("check of %s %s", c.Backend, map[Op]string{OpAdd: "added", OpUpdate: "updated"}[c.Op]))
	}
}

// unbound returns what listener change c (an add or a move) leaves
// running when its new address could not be bound (err), and the
// refusal that says so: nothing for an added listener; the old listener
// for a moved one, which stays on its old address.
func unbound(c ListenerChange, err error) (*config.Listener, error) {
	if c.Op == OpAdd {
		return nil, err
	}
	return c.Old, fmt.Errorf("%w (it stays on %s)", err, c.Old.Bind)
}
