package daemon

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/vrrp"
)

// restartInstances applies a changed vrrp_rt_priority to the VRRP
// instances running before the reload (named in running; those the reload
// added already run with it): each is stopped quietly, as at an upgrade in
// place (a MASTER keeps its VIPs and sends no priority 0, its sessions are
// left alone), and started again at once from cfg's configuration of it,
// carrying on its state: a MASTER adopts it and advertises at once, without
// a transition or a notify hook; a BACKUP stays BACKUP, without the wait of
// a fresh start; an operator's release goes on for what is left of it. An
// instance in any other state (FAULT, INIT, or a BACKUP still holding the
// VIPs it yielded) starts afresh, as a fresh start would. The instance's
// counters start again from zero. The caller holds reloadMu, not d.mu.
//
// It returns the instances that could not be started again: their VIPs
// are removed from this host, so that none is held without adverts.
func (d *Daemon) restartInstances(running []string, cfg *config.Config) map[string]error {
	failed := map[string]error{}
	for _, name := range running {
		d.mu.Lock()
		u := d.units[name]
		d.mu.Unlock()
		in, ok := cfg.VRRPInstance(name)
		if u == nil || !ok {
			continue
		}
		u.inst.StopQuietly()
		u.stop()
		s := u.inst.Snapshot()
		u.forget()
		d.mu.Lock()
		delete(d.units, name)
		hv := handedVRRP{State: s.State, Released: s.Released}
		if s.Released && !s.ReleasedUntil.IsZero() {
			hv.ReleasedFor = max(s.ReleasedUntil.Sub(d.clock.Now()), time.Millisecond)
		}
		nu, err := d.newUnit(in, cfg)
		if err == nil {
			if err = hv.carryOn(nu.inst); err != nil {
				delete(d.units, name)
				nu.forget()
			}
		}
		if err == nil {
			d.startUnit(nu)
		}
		d.mu.Unlock()
		if err != nil {
			failed[name] = err
			d.log.Error("restarting a VRRP instance for its new real-time priority failed: removing its VIPs",
				zap.String("vrrp_instance", name), zap.Error(err))
			if rerr := d.removeStale(&config.Config{VRRP: []config.VRRPInstance{*in}}); rerr != nil {
				d.log.Error("removing the VIPs of a VRRP instance that could not be restarted", zap.String("vrrp_instance", name), zap.Error(rerr))
			}
			continue
		}
		d.log.Info("VRRP instance restarted with the new real-time priority", zap.String("vrrp_instance", name),
			zap.Int("vrrp_rt_priority", d.rtPriority), zap.Stringer("state", s.State))
	}
	return failed
}

// handingOverLocked returns a VRRP instance that is handing its VIPs over
// to a peer (released while MASTER, or a handover not done yet): neither an
// upgrade in place nor a restart in place can carry that on. The caller
// holds d.mu.
func (d *Daemon) handingOverLocked() (string, bool) {
	for name, unit := range d.units {
		s := unit.inst.Snapshot()
		if s.Released && s.State == vrrp.StateMaster || s.Handover != nil && s.Handover.Done.IsZero() {
			return name, true
		}
	}
	return "", false
}

// rtPriorityApplied formats the reload's line for a changed
// vrrp_rt_priority.
func rtPriorityApplied(prio, instances int) string {
	return fmt.Sprintf("vrrp_rt_priority %d (%d VRRP instances restarted, their states carried on)", prio, instances)
}
