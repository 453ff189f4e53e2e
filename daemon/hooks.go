package daemon

import (
	"net/netip"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/vrrp"
)

// The notify hooks of a VRRP unit: a notify.Runner per instance, fed by
// the instance's transitions (vrrp.Options.OnTransition), run as a part
// of its own next to the instance, and given new hooks by a reload.

// newHooks gives u the runner of in's notify hooks and returns the
// instance's OnTransition: it queues the hook of each state entered (Stop
// for the change to INIT when the instance stops) and never waits, as the
// instance's state machine calls it. It must not take Daemon.mu: the
// daemon holds it while it stops the instance. vips returns the
// instance's VIPs now (a reload may change them), for RMQLB_VIPS.
func (d *Daemon) newHooks(u *vrrpUnit, in *config.VRRPInstance, vips func() []netip.Prefix) (func(vrrp.StateChange), error) {
	r, err := notify.NewRunner(in.Name, in.NotifyConfig(), notify.Options{Logger: d.log, Clock: d.clock, Registerer: u.reg})
	if err != nil {
		return nil, err
	}
	u.hooks = r
	return func(c vrrp.StateChange) {
		if c.Adopted {
			return // carried on from the process this one succeeds: no change
		}
		r.Notify(notify.Event{Kind: hookKind(c.To), Prev: c.From.String(), Reason: c.Reason, VIPs: vips(), Priority: int(c.Priority)})
	}, nil
}

// hookKind returns the hook a change to state s runs.
func hookKind(s vrrp.State) notify.Kind {
	switch s {
	case vrrp.StateMaster:
		return notify.Master
	case vrrp.StateBackup:
		return notify.Backup
	case vrrp.StateFault:
		return notify.Fault
	default:
		return notify.Stop
	}
}

// startHooks runs u's hooks as a part of their own. Start them before the
// instance, so that its first transitions find them running.
func (d *Daemon) startHooks(u *vrrpUnit) {
	u.hooksPart = d.parts.start(d.runCtx, "notify hooks of "+u.cfg.Name, true, u.hooks.Run)
}

// stopHooks tells u's hooks to stop once the instance has stopped: the
// runner runs the hooks still queued (the instance's stop hook among
// them), each bounded by its timeout, and then ends. It does not wait for
// them, so that the listeners' stop is not held up by a slow hook: the
// daemon's group of parts does, before Run returns.
func (u *vrrpUnit) stopHooks() {
	if u.hooksPart != nil {
		u.hooksPart.cancel()
	}
}

// notifyStatus returns the status of u's hooks; nil when it has none and
// never ran one.
func (u *vrrpUnit) notifyStatus() *notify.Snapshot {
	s := u.hooks.Snapshot()
	if len(s.Configured) == 0 && s.Runs == 0 && s.Dropped == 0 {
		return nil
	}
	return &s
}

// setHooks gives the unit's runner the hooks of in (a reload); the state
// changes already queued run the hooks they had.
func (u *vrrpUnit) setHooks(in *config.VRRPInstance) error {
	return u.hooks.SetConfig(in.NotifyConfig())
}
