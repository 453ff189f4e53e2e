package daemon

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rmqlb/rmqlb/config"
)

// vrrpPart is the part of a VRRP change that a reload lists as applied.
type vrrpPart int

const (
	// partStarted is an added instance started.
	partStarted vrrpPart = iota
	// partHooks is a running instance's new notify hooks.
	partHooks
	// partSettings is a running instance's new settings or VIPs.
	partSettings
	// partTracks is a running instance's new track rules.
	partTracks
	// partDropped is a rule dropped from the track rules of an instance
	// the plan leaves alone.
	partDropped
)

// vrrpDoer makes the VRRP changes of a reload, one part at a time, for
// walkVRRP: the daemon's instances (Daemon.apply), or nothing, to say what
// a reload would do (describePlan). Each method but runs returns the error
// that refuses the part; it is called only for a part walkVRRP found no
// reason to refuse.
type vrrpDoer interface {
	// runs tells whether the instance of that name runs now.
	runs(name string) bool
	// start starts the instance that c adds.
	start(c VRRPChange) error
	// setHooks gives the running instance of c its new notify hooks.
	setHooks(c VRRPChange) error
	// update gives the running instance of c its new settings and VIPs.
	update(c VRRPChange) error
	// setTracks rebuilds the track rules of the running instance of that
	// name from in: they changed, or a listener they track did (see
	// tracksChangedListener), or rules of it name what the file removed.
	setTracks(name string, in *config.VRRPInstance) error
}

// walkVRRP applies, through do, the VRRP instances that p adds and
// updates (not those it removes: the caller has them release their VIPs
// first), in the order a reload takes them (vipOrder), then the track
// rules of the running instances p leaves alone. It refuses up front what
// the VIPs' holders refuse (a VIP still another instance's) and an update
// of an instance that does not run; it records each refusal with refuse
// and in failed, and each part applied with applied, given the change
// (of partDropped, a VRRPChange with the instance's Name alone) and the
// line a reload lists. old is the running model, nc the file's.
// Daemon.apply and describePlan both walk the changes with it, so that a
// dry run lists what a reload does in its words and order.
func walkVRRP(old, nc *config.Config, p Plan, do vrrpDoer, failed leftovers, applied func(c VRRPChange, part vrrpPart, line string), refuse func(what string, err error)) {
	holds := newVIPHolders(old, p)
	for _, c := range vipOrder(p.VRRP) {
		what := "vrrp instance " + c.Name
		switch c.Op {
		case OpAdd:
			err := holds.refusal(c)
			if err == nil {
				err = do.start(c)
			}
			if err != nil {
				refuse(what, err)
				failed.instances[c.Name] = true
				continue
			}
			holds.applied(c)
			applied(c, partStarted, fmt.Sprintf("vrrp instance %s added", c.Name))
		case OpUpdate:
			if !do.runs(c.Name) {
				// Nothing to update. The running model never lists
				// such an instance (forgetInstances). Its VIPs stay
				// its own, as refused.
				holds.refused(c)
				refuse(what, errors.New("not running"))
				failed.instances[c.Name] = true
				continue
			}
			if c.Notify {
				if err := do.setHooks(c); err != nil {
					refuse("notify hooks of "+what, err)
					failed.notify[c.Name] = true
				} else {
					applied(c, partHooks, "notify hooks of "+what)
				}
			}
			if c.Settings || c.VIPs {
				err := holds.refusal(c)
				if err == nil {
					err = do.update(c)
				}
				if err != nil {
					refuse(what, err)
					failed.settings[c.Name] = true
				} else {
					holds.applied(c)
					applied(c, partSettings, fmt.Sprintf("vrrp instance %s updated: %s", c.Name, strings.Join(c.Keys, ", ")))
				}
			}
			// The tracker is rebuilt when the rules change, and when a
			// listener they track changes (its checked backends may
			// have).
			if !c.Tracks && !tracksChangedListener(c.New, p) {
				continue
			}
			if err := do.setTracks(c.Name, c.New); err != nil {
				refuse("tracks of "+what, fmt.Errorf("%w (it keeps its old rules)", err))
				failed.tracks[c.Name] = true
				continue
			}
			if c.Tracks {
				applied(c, partTracks, "tracks of "+what)
			}
		}
	}
	// A listener's backends may have changed under a listener track, or
	// gone with their checks under a backend track. An instance awaiting
	// a restart drops its old rules naming what the file removed (also
	// when it kept them as its new ones were refused by a reload before).
	// They go in the running model's order, which the outcome lists.
	for i := range old.VRRP {
		cur := &old.VRRP[i]
		if !do.runs(cur.Name) || slices.ContainsFunc(p.VRRP, func(c VRRPChange) bool { return c.Name == cur.Name }) {
			continue
		}
		in := *cur
		var dropped []config.Track
		in.Track, dropped = fileTracks(cur.Track, nc)
		if !tracksChangedListener(cur, p) && len(dropped) == 0 {
			continue
		}
		if err := do.setTracks(in.Name, &in); err != nil {
			refuse("tracks of vrrp instance "+in.Name, fmt.Errorf("%w (it keeps its old rules)", err))
			failed.tracks[in.Name] = true
			continue
		}
		for _, t := range dropped {
			applied(VRRPChange{Name: in.Name}, partDropped, fmt.Sprintf("tracks of vrrp instance %s: dropped its rule of %s, which the file no longer has or checks (the instance awaits a restart with its other rules)", in.Name, trackTarget(t)))
		}
	}
}

// restarted returns, sorted, the names of the instances of units (those
// that run now) that p does not remove: those a new vrrp_rt_priority or
// vrrp_sender restarts, with the instances p adds.
func restarted[U any](p Plan, units map[string]U) []string {
	var names []string
	for name := range maps.Keys(units) {
		if !slices.ContainsFunc(p.VRRP, func(c VRRPChange) bool { return c.Name == name && c.Op == OpRemove }) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
