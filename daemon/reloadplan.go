package daemon

import (
	"path/filepath"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/vrrp"
)

// PlanReload reads the configuration file and returns what a reload of it
// would do now, applying nothing: the changes, each with what it does to
// the sessions and addresses that run now, the refusals that can be known
// before a reload tries, the changes only a restart applies, the file's
// warnings, and why any reload would be refused now (stopping, an
// upgrade under way). It waits for Run to be ready and for a reload under
// way to end; it is safe from any goroutine.
func (d *Daemon) PlanReload() control.ReloadPlan { return d.PlanReloadOf("") }

// PlanReloadOf is PlanReload of the file at path in place of the daemon's
// own ("": the daemon's own): a candidate configuration before it is
// installed, read as the daemon would read it installed (its files of
// client addresses, its TLS files) and with this host's warnings. The
// plan names path, unless it is the daemon's file. The daemon reads the
// file with its privileges: Handle lets only root and the daemon's own
// user ask for it.
func (d *Daemon) PlanReloadOf(path string) control.ReloadPlan {
	select {
	case <-d.ready:
	case <-d.stopping:
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	r := control.ReloadPlan{At: d.clock.Now(), File: path, Blocked: d.reloadBlocked()}
	if own, err := filepath.Abs(d.opt.Path); err == nil && filepath.Clean(path) == own {
		r.File = ""
	}
	if path == "" {
		path = d.opt.Path
	}
	nc, err := config.Load(path)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Warnings = configWarnings(nc)
	d.mu.Lock()
	old := d.cfg
	f := d.liveFactsLocked(nc)
	d.mu.Unlock()
	p := Diff(old, nc)
	f.binds, f.metricsBind = probeBinds(p, old, nc), probeMetricsBind(p, old, nc)
	if p.ControlSocket {
		f.controlLock = foreseeLock(LockPath(nc.ControlSocket), procLocks)
	}
	r.Changes, r.Refused = describePlan(p, old, nc, f)
	for _, rs := range p.Restart {
		r.Pending = append(r.Pending, rs.String())
	}
	return r
}

// liveFactsLocked gathers what describePlan needs of what runs now, with
// nc the file a reload would apply. The caller holds d.mu.
func (d *Daemon) liveFactsLocked(nc *config.Config) liveFacts {
	f := liveFacts{
		levelSettable: d.opt.Level != nil,
		listeners:     map[string]int64{},
		units:         map[string]bool{},
		released:      map[string]bool{},
		applies:       map[string]balancer.ApplyEffects{},
	}
	for name, u := range d.listeners {
		f.listeners[name] = u.l.Snapshot().Active
		if nl, ok := nc.Listener(name); ok {
			f.applies[name] = u.l.ApplyEffects(nc.BalancerConfig(nl))
		}
	}
	for name, u := range d.units {
		s := u.inst.Snapshot()
		f.units[name] = s.State == vrrp.StateMaster
		if s.Released {
			f.released[name] = true
		}
	}
	return f
}
