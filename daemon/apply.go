package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
)

// Reload reads the configuration file again and applies it: plan :=
// Diff(running model, new model); apply the plan; the running model
// becomes the new one, except the parts that could not be applied (they
// keep running as they were, and the next reload tries them again). A file
// that does not parse is refused as a whole and nothing changes. The
// outcome is kept for status and returned. Reload waits for Run to be
// ready, and is refused once Run has begun to stop; it is safe from any
// goroutine.
func (d *Daemon) Reload() control.Reload {
	select {
	case <-d.ready:
	case <-d.stopping:
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	r := control.Reload{At: d.clock.Now()}
	if why := d.reloadBlocked(); why != "" {
		return d.refuseReload(r, why)
	}
	d.notifyReloading()
	defer d.notifyReady()
	// A reload (SIGHUP too) also re-creates the control socket and the
	// lock file when they were removed, as the watcher would.
	d.restoreControlLocked(true)
	nc, err := config.Load(d.opt.Path)
	if err != nil {
		r.Error = err.Error()
		d.log.Error("reload refused: the daemon keeps its running configuration", zap.String("config", d.opt.Path), zap.Error(err))
	} else {
		d.warnAbout(nc)
		r = d.apply(nc, r)
		d.mu.Lock()
		running := d.cfg
		d.mu.Unlock()
		d.writeScope(running)
		// A change refused is a warning: the daemon runs on with what
		// it would have replaced, and status reports it degraded.
		lvl := d.log.Info
		if len(r.Refused) > 0 {
			lvl = d.log.Warn
		}
		lvl("reloaded configuration", zap.Strings("applied", r.Applied),
			zap.Strings("refused", r.Refused), zap.Strings("needs_restart", r.Pending))
	}
	d.mu.Lock()
	if r.Error != "" {
		r.Pending = d.stillPending()
	}
	d.lastReload = &r
	if r.Error != "" || len(r.Refused) > 0 {
		d.reloadsBad++
	} else {
		d.reloadsOK++
		d.lastReloadOK = r.At
	}
	d.mu.Unlock()
	return r
}

// reloadBlocked returns why a reload would be refused now whatever the
// file says, or "". The caller holds reloadMu.
func (d *Daemon) reloadBlocked() string {
	select {
	case <-d.stopping:
		// Run began to stop: refuseReloads waits for reloadMu, or has
		// had it.
		return "the daemon is stopping: nothing was applied"
	default:
	}
	if d.stop.Err() != nil {
		// Asked to stop (set before ready or stopping was closed):
		// Run's main loop is about to refuse reloads.
		return "the daemon is stopping: nothing was applied"
	}
	if pid := d.upgradePID(); pid != 0 {
		// The new process reads the file itself; this one must not
		// change what it is handing over.
		return fmt.Sprintf("an upgrade is under way (new process pid %d): reload once it is done (the new process reads the file when it starts; a later change needs a reload)", pid)
	}
	return ""
}

// stillPending returns the changes the last reload left to a restart: a
// reload refused as a whole changes nothing, so they still wait (and
// status keeps saying so). The caller holds d.mu.
func (d *Daemon) stillPending() []string {
	if d.lastReload == nil {
		return nil
	}
	return slices.Clone(d.lastReload.Pending)
}

// refuseReload records and returns r refused as a whole for reason. The
// caller holds reloadMu.
func (d *Daemon) refuseReload(r control.Reload, reason string) control.Reload {
	r.Error = reason
	d.log.Warn("reload refused", zap.String("reason", reason))
	d.mu.Lock()
	r.Pending = d.stillPending()
	d.lastReload = &r
	d.reloadsBad++
	d.mu.Unlock()
	return r
}

// apply applies the plan from the running model to nc. The caller holds
// reloadMu.
func (d *Daemon) apply(nc *config.Config, r control.Reload) control.Reload {
	d.mu.Lock()
	old := d.cfg
	d.mu.Unlock()
	p := Diff(old, nc)
	// The listeners are built against the model the plan leads to: a
	// VRRP instance awaiting a restart holds its old VIPs until then.
	next := p.next(old, nc)
	for _, rs := range p.Restart {
		r.Pending = append(r.Pending, rs.String())
	}
	// failed records what a failed change leaves running; the running
	// model takes it instead of nc's.
	failed := newLeftovers()
	refuse := func(what string, err error) {
		r.Refused = append(r.Refused, fmt.Sprintf("%s: %v", what, err))
	}
	applied := func(format string, args ...any) { r.Applied = append(r.Applied, fmt.Sprintf(format, args...)) }

	if p.LogLevel && d.opt.Level != nil {
		d.opt.Level.SetLevel(nc.LogLevel)
		applied("log_level %s", nc.LogLevel)
	}
	if p.ControlSocket {
		// Moved first: the new socket is made with the new group.
		if err := d.moveControl(nc); err != nil {
			refuse("control_socket", err)
			failed.controlSocket = true
		} else {
			applied("control_socket %s", nc.ControlSocket)
		}
	}
	switch {
	case p.ControlGroup && p.ControlSocket && !failed.controlSocket:
		applied("control_group %q", nc.ControlGroup) // the moved socket has it
	case p.ControlGroup:
		d.mu.Lock()
		ctl := d.ctl
		d.mu.Unlock()
		if err := ctl.SetGroup(nc.ControlGroup); err != nil {
			refuse("control_group", err)
			failed.controlGroup = true
		} else {
			applied("control_group %q", nc.ControlGroup)
		}
	}

	// The listeners and checks, in the order walkListeners gives: what
	// goes away stops first, then the metrics endpoint moves, then
	// listeners bind, then checks and listener updates.
	walkListeners(p, nc, probeBinds(p, old, nc), &daemonListeners{d: d, next: next, nc: nc}, &failed,
		func(_ listenerStep, line string) { applied("%s", line) }, refuse)

	// The instances that run before the VRRP changes and stay: a new
	// vrrp_rt_priority restarts them once the changes are applied (the
	// instances added below start with it).
	var restart []string
	restartVRRP := p.RealTimePriority || p.Sender
	if restartVRRP {
		d.mu.Lock()
		if err := d.handingOverLocked("reload"); err != nil {
			restartVRRP = false
			failed.rtPriority, failed.sender = p.RealTimePriority, p.Sender
			if p.RealTimePriority {
				refuse("vrrp_rt_priority", err)
			}
			if p.Sender {
				refuse("vrrp_sender", err)
			}
		} else {
			d.rtPriority = nc.VRRPRealTimePriority
			restart = restarted(p, d.units)
		}
		d.mu.Unlock()
	}

	// VRRP: removed instances release their VIPs; added ones start;
	// changed ones take their new settings live; track rules are rebuilt
	// from the current check states (walkVRRP).
	for _, c := range p.VRRP {
		if c.Op != OpRemove {
			continue
		}
		d.mu.Lock()
		u := d.units[c.Name]
		delete(d.units, c.Name)
		d.mu.Unlock()
		if u != nil {
			u.stop()
			u.forget()
		}
		applied("vrrp instance %s removed", c.Name)
	}
	// Track rules follow the listeners as they run: one whose change was
	// refused as it runs on, or, when it does not run, as the file has
	// it, without a check of its backends (its rules fail).
	tm := trackModel(nc, failed)
	d.mu.Lock()
	walkVRRP(old, nc, p, &daemonVRRP{d: d, nc: nc, tracks: tm}, failed, func(c VRRPChange, part vrrpPart, line string) {
		applied("%s", line)
		if part == partStarted && restartVRRP {
			// Made with the sender process that is about to be
			// replaced: restarted in place with the others.
			restart = append(restart, c.Name)
		}
	}, refuse)
	d.mu.Unlock()

	d.mu.Lock()
	d.cfg = running(old, nc, p, failed)
	for i := range d.cfg.VRRP {
		if u := d.units[d.cfg.VRRP[i].Name]; u != nil {
			u.cfg = &d.cfg.VRRP[i]
		}
	}
	for i := range d.cfg.Listeners {
		if u := d.listeners[d.cfg.Listeners[i].Name]; u != nil {
			u.cfg = &d.cfg.Listeners[i]
		}
	}
	cfg := d.cfg
	d.mu.Unlock()
	// The state file follows what the reload changed: a backend removed,
	// an operator's weight dropped with a change of its backend, or
	// another file.
	saveErr := d.saveOpState()
	if p.StateFile {
		switch {
		case cfg.StateFile == "":
			applied("state_file: none")
		case saveErr != nil:
			applied("state_file %s (not written: %v)", cfg.StateFile, errors.Unwrap(saveErr))
		default:
			applied("state_file %s", cfg.StateFile)
		}
	}
	for i := range cfg.VRRP {
		if absent := absentTracks(&cfg.VRRP[i], failed); len(absent) > 0 {
			refuse("tracks of vrrp instance "+cfg.VRRP[i].Name, fmt.Errorf("%s: counted as failing until a reload starts it", strings.Join(absent, "; ")))
		}
	}
	if restartVRRP {
		// The sender process is replaced with either change (it runs
		// at the real-time priority too); the instances added above,
		// which took their sender from the process replaced, are in
		// the list.
		bad, serr := d.restartInstances(restart, cfg, true)
		for _, name := range restart {
			if err, ok := bad[name]; ok {
				refuse("vrrp instance "+name, fmt.Errorf("restarting it in place: %w (its VIPs removed; the next reload adds it again)", err))
			}
		}
		if len(bad) > 0 {
			d.forgetInstances(bad)
		}
		if serr != nil {
			refuse("vrrp_sender", fmt.Errorf("%w (the instances send their adverts themselves)", serr))
		}
		n := len(restart) - len(bad)
		if p.RealTimePriority {
			applied("%s", restartApplied(fmt.Sprintf("vrrp_rt_priority %d", nc.VRRPRealTimePriority), n))
		}
		if p.Sender {
			applied("%s", restartApplied("vrrp_sender "+nc.VRRPSender.String(), n))
		}
	}
	// The listeners bound to a VIP that came or went (an instance added,
	// removed or refused) learn it, as the running model has it.
	d.mu.Lock()
	d.syncListenerVIPs(applied, refuse)
	d.mu.Unlock()
	d.stopIdleSender()
	return r
}

// daemonVRRP makes a reload's VRRP changes to the daemon's instances
// (walkVRRP). The caller holds d.mu while it is used.
type daemonVRRP struct {
	d *Daemon
	// nc is the file's model.
	nc *config.Config
	// tracks is the model the track rules are built from (trackModel).
	tracks *config.Config
}

func (v *daemonVRRP) runs(name string) bool { return v.d.units[name] != nil }

func (v *daemonVRRP) start(c VRRPChange) error {
	u, err := v.d.newUnit(c.New, v.tracks)
	if err != nil {
		return err
	}
	return v.d.startAddedUnit(u)
}

func (v *daemonVRRP) setHooks(c VRRPChange) error { return v.d.units[c.Name].setHooks(c.New) }

func (v *daemonVRRP) update(c VRRPChange) error {
	return v.d.units[c.Name].update(c, takenByMaster(v.d.units, v.nc, c.Name))
}

func (v *daemonVRRP) setTracks(name string, in *config.VRRPInstance) error {
	return v.d.setTracks(v.d.units[name], in, v.tracks)
}

// metricsApplied names a new metrics_listen as a reload lists it.
func metricsApplied(nc *config.Config) string {
	if !nc.MetricsListen.IsValid() {
		return "metrics_listen: none"
	}
	return "metrics_listen " + nc.MetricsListen.String()
}

// forgetInstances takes the VRRP instances of names, which could not be
// restarted in place and no longer run, out of the running model: the next
// reload of a file that has them adds them afresh. The caller holds
// reloadMu, not d.mu.
func (d *Daemon) forgetInstances(names map[string]error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := *d.cfg // readers may hold the old model: replaced, not changed
	c.VRRP = slices.DeleteFunc(slices.Clone(c.VRRP), func(in config.VRRPInstance) bool {
		_, gone := names[in.Name]
		return gone
	})
	d.cfg = &c
	for i := range c.VRRP {
		if u := d.units[c.VRRP[i].Name]; u != nil {
			u.cfg = &c.VRRP[i]
		}
	}
}

// daemonListeners makes a reload's listener and check changes to the
// daemon's listeners and checks (walkListeners).
type daemonListeners struct {
	d *Daemon
	// next is the model the listeners are built against (Plan.next).
	next *config.Config
	// nc is the file's model.
	nc *config.Config
}

func (v *daemonListeners) stopAccepting(name string) {
	v.d.mu.Lock()
	u := v.d.listeners[name]
	v.d.detachListener(name)
	v.d.mu.Unlock()
	if u != nil {
		u.stopAccepting()
	}
}

func (v *daemonListeners) moveMetrics() error { return v.d.moveMetrics(v.nc) }

func (v *daemonListeners) start(c ListenerChange) (err, restoreErr error) {
	v.d.mu.Lock()
	defer v.d.mu.Unlock()
	err = v.d.runListenerNow(v.next, c.New)
	if err != nil && c.Op == OpReplace {
		restoreErr = v.d.runListenerNow(v.next, c.Old)
	}
	return err, restoreErr
}

func (v *daemonListeners) dropChecks(l *config.Listener) {
	for i := range l.Backends {
		_ = v.d.sched.Remove(l.Backends[i].ID) // unchecked ones have none
	}
}

func (v *daemonListeners) removeCheck(id backend.ID) error { return v.d.sched.Remove(id) }

func (v *daemonListeners) update(c ListenerChange) error {
	v.d.mu.Lock()
	defer v.d.mu.Unlock()
	u := v.d.listeners[c.Name]
	if err := u.l.Apply(v.next.BalancerConfig(c.New)); err != nil {
		return err
	}
	u.cfg, u.vipBound = c.New, v.next.VIPOwned(c.New.Bind.Addr())
	return nil
}

func (v *daemonListeners) serveUnchecked(id backend.ID) {
	v.d.router.SetBackendState(id, backend.Up, "check removed")
	v.d.router.SetBackendWeight(id, 100)
	v.d.router.SetBackendFull(id, false)
}

func (v *daemonListeners) setCheck(c CheckChange) error {
	if c.Op == OpAdd {
		return v.d.addCheck(c.New, c.Serving)
	}
	return v.d.updateCheck(c.New)
}

// tracksChangedListener reports whether an instance tracks a listener the
// plan changes, or a backend of one: a listener rule watches its checked
// backends, and a backend rule's check may have gone with its listener
// (a listener moved that could be bound neither where it goes nor where
// it was), which a tracker would not hear of.
func tracksChangedListener(in *config.VRRPInstance, p Plan) bool {
	for _, t := range in.Track {
		name := trackedListener(t)
		for _, c := range p.Listeners {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

// trackedListener returns the listener track rule t watches, or whose
// backend it watches.
func trackedListener(t config.Track) string {
	if t.Listener != "" {
		return t.Listener
	}
	return t.Backend.Listener
}

// trackTarget names what track rule t watches.
func trackTarget(t config.Track) string {
	if t.Listener != "" {
		return "listener " + t.Listener
	}
	return "backend " + t.Backend.String()
}

// trackModel is nc with the listeners whose change failed as they run:
// their old version, or, when none runs or the old version checks no
// backend, nc's, whose backends have no running check (the rules that
// name them fail). The track rules of a reload are resolved against it.
func trackModel(nc *config.Config, failed leftovers) *config.Config {
	c := *nc
	c.Listeners = slices.Clone(nc.Listeners)
	for i := range c.Listeners {
		if keep := failed.listeners[c.Listeners[i].Name]; keep != nil && len(backendIDs(keep)) > 0 {
			c.Listeners[i] = *keep
		}
	}
	return &c
}

// absentTracks describes the track rules of in that name a listener that
// does not run after a reload (its addition or move was refused) or runs
// as it was without a checked backend, or a backend whose check does not
// run (its listener's change was refused): they fail until a reload
// starts it.
func absentTracks(in *config.VRRPInstance, failed leftovers) []string {
	var out []string
	for _, t := range in.Track {
		name := trackedListener(t)
		keep, refused := failed.listeners[name]
		switch {
		case !refused:
		case keep == nil && t.Listener != "":
			out = append(out, fmt.Sprintf("listener %s does not run", name))
		case t.Listener != "" && len(backendIDs(keep)) == 0:
			out = append(out, fmt.Sprintf("listener %s runs as it was, without a checked backend", name))
		case keep == nil:
			out = append(out, fmt.Sprintf("backend %s does not run (listener %s does not)", t.Backend, name))
		case t.Listener == "" && !slices.Contains(backendIDs(keep), t.Backend):
			out = append(out, fmt.Sprintf("backend %s is not checked (listener %s runs as it was)", t.Backend, name))
		}
	}
	return out
}

// leftovers is what failed changes leave running: by listener name its
// old version (nil: none), the VRRP instances that could not be added,
// those whose new settings could not be applied, those whose new track
// rules or notify hooks could not be set up (they keep their old ones),
// and the control group when the new one could not be set, the control
// socket when it could not be moved, and so on for the settings below.
type leftovers struct {
	listeners     map[string]*config.Listener
	instances     map[string]bool
	settings      map[string]bool
	tracks        map[string]bool
	notify        map[string]bool
	controlGroup  bool // the control group stays the old one
	controlSocket bool // the control socket stays where it was
	rtPriority    bool // vrrp_rt_priority stays the old one
	sender        bool // vrrp_sender stays the old one
	metrics       bool // metrics_listen stays the old one
}

// newLeftovers returns the leftovers of a reload that has failed nothing
// yet.
func newLeftovers() leftovers {
	return leftovers{listeners: map[string]*config.Listener{}, instances: map[string]bool{},
		settings: map[string]bool{}, tracks: map[string]bool{}, notify: map[string]bool{}}
}

// listenerFailed reports whether listener name could not be added or
// moved (or changed): its check changes are not applied either.
func (f leftovers) listenerFailed(name string) bool {
	_, ok := f.listeners[name]
	return ok
}

// fileTracks splits the track rules ts of an instance that runs on with
// its old configuration (awaiting a restart) into those that name what
// nc has, and those that name a listener nc lacks or whose backends it no
// longer checks, or a backend it lacks or no longer checks: these track
// nothing that will run, and are dropped rather than counted as failing
// (the file removed what they watch; failing, they would lower the
// priority of a master for a listener taken away on purpose).
func fileTracks(ts []config.Track, nc *config.Config) (kept, dropped []config.Track) {
	for _, t := range ts {
		var ok bool
		if t.Listener != "" {
			l, found := nc.Listener(t.Listener)
			ok = found && len(backendIDs(l)) > 0
		} else {
			b, found := nc.Backend(t.Backend)
			ok = found && b.Check.Type != config.CheckNone
		}
		if ok {
			kept = append(kept, t)
		} else {
			dropped = append(dropped, t)
		}
	}
	return kept, dropped
}

// running is the model the daemon runs after applying p from old to nc:
// nc, except what was not applied. Listeners whose change failed keep
// their old version (or none); a VRRP instance whose identity changed
// (a restart) keeps its old configuration, with nc's place in the file
// and without the track rules naming what nc removed (see fileTracks),
// and one whose new settings failed keeps its old settings with nc's
// track rules and notify hooks (which were applied); an instance whose
// new track rules or notify hooks could not be set up keeps its old ones;
// so do the control socket when moving it failed and the control group
// when setting the new one failed. The next reload then finds the same differences again, and a
// file changed back finds none.
func running(old, nc *config.Config, p Plan, failed leftovers) *config.Config {
	c := *nc
	if failed.controlSocket {
		c.ControlSocket = old.ControlSocket
	}
	if failed.controlGroup {
		c.ControlGroup = old.ControlGroup
	}
	if failed.rtPriority {
		c.VRRPRealTimePriority = old.VRRPRealTimePriority
	}
	if failed.sender {
		c.VRRPSender = old.VRRPSender
	}
	if failed.metrics {
		c.MetricsListen = old.MetricsListen
	}
	c.Listeners = nil
	for _, l := range nc.Listeners {
		if keep, ok := failed.listeners[l.Name]; ok {
			if keep != nil {
				c.Listeners = append(c.Listeners, *keep)
			}
			continue
		}
		c.Listeners = append(c.Listeners, l)
	}
	c.VRRP = nil
	for _, in := range nc.VRRP {
		oi, existed := old.VRRPInstance(in.Name)
		switch {
		case failed.instances[in.Name]:
		case !existed && restartsAt(p.Restart, in.Field):
			// Added, but deferred to a restart (see Plan.deferClashes).
		case existed && restartsAt(p.Restart, in.Field):
			kept := *oi
			kept.Field = in.Field
			kept.Track, _ = fileTracks(oi.Track, nc)
			c.VRRP = append(c.VRRP, kept)
		case existed && failed.settings[in.Name]:
			kept := *oi
			kept.Field, kept.Track, kept.Notify = in.Field, in.Track, in.Notify
			c.VRRP = append(c.VRRP, kept)
		default:
			c.VRRP = append(c.VRRP, in)
		}
		if n := len(c.VRRP); existed && n > 0 && c.VRRP[n-1].Name == in.Name {
			if failed.tracks[in.Name] {
				c.VRRP[n-1].Track = oi.Track
			}
			if failed.notify[in.Name] {
				c.VRRP[n-1].Notify = oi.Notify
			}
		}
	}
	return &c
}
