package daemon

import (
	"fmt"
	"maps"
	"slices"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/vrrp"
)

// restartInstances applies a changed vrrp_rt_priority or vrrp_sender to
// the VRRP instances named in running (those running before the reload,
// and those it added, which took their sender from the process replaced):
// every one is stopped quietly, as at an upgrade in place (a MASTER keeps its VIPs and sends no
// priority 0, its sessions are left alone); when sender is set the advert
// sender process is then replaced by cfg's (replaceSender); then each is
// started again at once from cfg's configuration of it, carrying on its
// state: a MASTER adopts it and advertises at once, without a transition
// or a notify hook; a BACKUP stays BACKUP, without the wait of a fresh
// start; an operator's release goes on for what is left of it. An
// instance in any other state (FAULT, INIT, or a BACKUP still holding the
// VIPs it yielded) starts afresh, as a fresh start would. The instances'
// counters start again from zero. The caller holds reloadMu, not d.mu.
//
// It returns the instances that could not be started again, whose VIPs it
// removed from this host so that none is held without adverts, and the
// error of a sender process that could not be set up (the instances then
// send their adverts themselves).
func (d *Daemon) restartInstances(running []string, cfg *config.Config, sender bool) (failed map[string]error, senderErr error) {
	failed = map[string]error{}
	type stopped struct {
		in *config.VRRPInstance
		hv handedVRRP
	}
	var units []stopped
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
		s, vs := u.inst.Snapshot(), u.vips.Snapshot()
		u.forget()
		d.mu.Lock()
		delete(d.units, name)
		d.mu.Unlock()
		units = append(units, stopped{in: in, hv: handedState(in, s, vs, d.clock.Now())})
	}
	if sender {
		if senderErr = d.replaceSender(cfg); senderErr != nil {
			d.log.Error("setting up the VRRP advert sender process: the instances send their adverts themselves", zap.Error(senderErr))
		}
	}
	for _, st := range units {
		name := st.hv.Name
		d.mu.Lock()
		nu, err := d.newUnit(st.in, cfg)
		if err == nil {
			if err = st.hv.carryOn(nu, d.clock.Now()); err != nil {
				delete(d.units, name)
				nu.forget()
			}
		}
		if err == nil {
			err = d.startAddedUnit(nu)
		}
		d.mu.Unlock()
		if err != nil {
			failed[name] = err
			d.log.Error("restarting a VRRP instance in place failed: removing its VIPs",
				zap.String("vrrp_instance", name), zap.Error(err))
			if rerr := d.removeStale(&config.Config{VRRP: []config.VRRPInstance{*st.in}}); rerr != nil {
				d.log.Error("removing the VIPs of a VRRP instance that could not be restarted", zap.String("vrrp_instance", name), zap.Error(rerr))
			}
			continue
		}
		d.log.Info("VRRP instance restarted in place", zap.String("vrrp_instance", name),
			zap.Int("vrrp_rt_priority", cfg.VRRPRealTimePriority), zap.Stringer("vrrp_sender", cfg.VRRPSender), zap.Stringer("state", st.hv.State))
	}
	return failed, senderErr
}

// handingOverLocked returns why change (an upgrade or a reload that
// restarts the VRRP instances in place) must wait, when a VRRP instance is
// handing its VIPs over to a peer (a handover not done yet) or is released
// while MASTER (it keeps the VIPs until a backup takes them over): neither
// can be carried on. Nil when none is. The caller holds d.mu.
func (d *Daemon) handingOverLocked(change string) error {
	for _, name := range slices.Sorted(maps.Keys(d.units)) {
		s := d.units[name].inst.Snapshot()
		switch {
		case s.Handover != nil && s.Handover.Done.IsZero():
			return fmt.Errorf("VRRP instance %s is handing its VIPs over to a peer; %s once that is done", name, change)
		case s.Released && s.State == vrrp.StateMaster:
			return fmt.Errorf("VRRP instance %s is released but still MASTER: no backup has taken its VIPs over yet; %s once one has, or end the release first (rmqlb vrrp ready %s)", name, change, name)
		}
	}
	return nil
}

// restartApplied formats the reload's line for a changed setting that
// restarted the VRRP instances in place.
func restartApplied(setting string, instances int) string {
	return fmt.Sprintf("%s (%d VRRP instances restarted, their states carried on)", setting, instances)
}
