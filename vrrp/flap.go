package vrrp

import (
	"errors"
	"time"
)

// RecentTransitionsKept is how many of an instance's latest state changes
// Snapshot.RecentTransitions holds: enough to tell an instance that flaps
// (several changes within minutes, each moving the VIPs) from one that
// changed now and then.
const RecentTransitionsKept = 8

// Transition is one state change of an instance as Snapshot keeps it:
// when, from and to which state, and why (StateChange.Reason).
type Transition struct {
	At     time.Time `json:"at"`
	From   State     `json:"from"`
	To     State     `json:"to"`
	Reason string    `json:"reason"`
}

// isRoleChange reports whether c is a change between BACKUP, MASTER and
// FAULT, one that may count as a flap: not the start or the stop of the
// instance (from or to INIT), which a restart or an upgrade of rmqlb
// makes.
func (c StateChange) isRoleChange() bool { return c.From != StateInit && c.To != StateInit }

// transitioned records state change c at now in the instance's recent
// ones, if it is a role change (isRoleChange). The caller holds i.mu.
func (i *Instance) transitioned(c StateChange, now time.Time) {
	if !c.isRoleChange() {
		return
	}
	i.recentTransitions = append(i.recentTransitions, Transition{At: now, From: c.From, To: c.To, Reason: c.Reason})
	if len(i.recentTransitions) > RecentTransitionsKept {
		i.recentTransitions = i.recentTransitions[len(i.recentTransitions)-RecentTransitionsKept:]
	}
}

// TransitionsSince returns how many of the state changes in
// s.RecentTransitions came after t (at most RecentTransitionsKept).
func (s Snapshot) TransitionsSince(t time.Time) int {
	n := 0
	for _, c := range s.RecentTransitions {
		if c.At.After(t) {
			n++
		}
	}
	return n
}

// CarryTransitions gives the instance the recent state changes of the
// process it succeeds on the same host (Snapshot.RecentTransitions of that
// process's instance, an upgrade in place), oldest first, so that an
// instance that flaps still does after the hand-over. Call it before Run;
// it fails once Run has started.
func (i *Instance) CarryTransitions(ts []Transition) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.started {
		return errors.New("carrying transitions: the instance runs already")
	}
	i.recentTransitions = append([]Transition(nil), ts[max(0, len(ts)-RecentTransitionsKept):]...)
	return nil
}
