package daemon

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/vrrp"
)

// vrrpUnit is one VRRP instance, the VIP owner it drives and the tracker
// that adjusts its priority. Its fields are guarded by Daemon.mu.
type vrrpUnit struct {
	cfg  *config.VRRPInstance
	inst *vrrp.Instance
	vips VIPOwner
	reg  *partRegistry
	log  *zap.Logger

	// setAdjust sets the instance's priority adjustment: the tracker's
	// output (inst.SetPriorityAdjust; tests record it).
	setAdjust   func(delta int)
	tracker     *healthcheck.Tracker // nil without track rules
	unsubscribe func()               // of the tracker; nil without
	vipsPart    *part                // nil until started
	instPart    *part
	hooks       *notify.Runner // the instance's notify hooks (hooks.go)
	hooksPart   *part          // nil until started

	// resumed is the release carried on from before the instance existed
	// (resumeRelease), and resumedApplied is closed once the instance has
	// applied it (or a later request, or has stopped): until then its
	// snapshot does not show it, and the state file keeps it from here.
	// Nil when none.
	resumed        *opRelease
	resumedApplied <-chan struct{}
}

// resumeRelease has the instance, before it starts, carry on release r,
// made before it existed (by the process an upgrade replaces, or the run
// before a restart), for left (zero: until ready), with r's start and
// reason.
func (u *vrrpUnit) resumeRelease(r opRelease, left time.Duration) {
	u.resumed = &r
	u.resumedApplied = u.inst.ResumeRelease(r.Since, left, r.Reason)
}

// pendingRelease returns the release carried on (resumeRelease) while the
// instance has not applied it yet.
func (u *vrrpUnit) pendingRelease() (opRelease, bool) {
	if u.resumed == nil {
		return opRelease{}, false
	}
	select {
	case <-u.resumedApplied:
		return opRelease{}, false
	default:
		return *u.resumed, true
	}
}

// newUnit creates (without starting) the unit of instance in, whose track
// rules refer to the listeners of cfg.
func (d *Daemon) newUnit(in *config.VRRPInstance, cfg *config.Config) (*vrrpUnit, error) {
	log := d.log.With(zap.String("vrrp_instance", in.Name))
	reg := newPartRegistry(d.reg)
	u := &vrrpUnit{cfg: in, reg: reg, log: log}
	var tr vrrp.Transport
	var err error
	if d.opt.NewVRRP != nil {
		tr, u.vips, err = d.opt.NewVRRP(in, log, reg)
	} else {
		u.vips, err = d.newVIPSet(in, log, reg)
	}
	if err == nil {
		err = reg.Register(newUnitCollector(in.Name, u.vips))
	}
	if err != nil {
		reg.unregisterAll()
		return nil, fmt.Errorf("setting up VIPs of %q: %w", in.Name, err)
	}
	owner := newReleasingOwner(u.vips, in.VIPs, d.router.all, log)
	u.vips = owner
	onTransition, err := d.newHooks(u, in, owner.VIPs)
	if err != nil {
		reg.unregisterAll()
		return nil, fmt.Errorf("setting up notify hooks of %q: %w", in.Name, err)
	}
	opts := vrrp.Options{
		Transport: tr, Owner: owner, Clock: d.clock, Logger: d.log, Registerer: reg,
		OnTransition: onTransition, RealTimePriority: d.rtPriority,
	}
	if d.sender != nil {
		opts.Sender = d.sender.Sender(in.Name)
	}
	u.inst, err = vrrp.NewInstance(in.VRRPConfig(), opts)
	if err != nil {
		reg.unregisterAll()
		return nil, fmt.Errorf("setting up VRRP instance %q: %w", in.Name, err)
	}
	u.setAdjust = u.inst.SetPriorityAdjust
	if err := d.setTracks(u, in, cfg); err != nil {
		reg.unregisterAll()
		return nil, err
	}
	d.units[in.Name] = u
	return u, nil
}

// newVIPSet returns the VIP owner of instance in: a netsetup.VIPSet whose
// metrics are labelled vrrp_instance like the instance's. It does no
// network I/O.
func (d *Daemon) newVIPSet(in *config.VRRPInstance, log *zap.Logger, reg prometheus.Registerer) (*netsetup.VIPSet, error) {
	return netsetup.NewVIPSetWithOptions(in.VIPConfig(), d.vipSetOptions(in, log, reg))
}

// vipSetOptions are the options of newVIPSet's VIP owner for instance in.
func (d *Daemon) vipSetOptions(in *config.VRRPInstance, log *zap.Logger, reg prometheus.Registerer) netsetup.VIPSetOptions {
	return netsetup.VIPSetOptions{
		Logger:     log,
		Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"vrrp_instance": in.Name}, reg),
		Clock:      d.clock,
		Recheck:    vipRecheck(in.AdvertInterval),
	}
}

// vipRecheck is how long a fault of the VIPs (an address that cannot be
// added) lasts at least, and the period of the checks meanwhile
// (netsetup.VIPSetOptions.Recheck), for an instance with the advert
// interval advert: that interval, but at least netsetup.DefaultRecheck.
// Each check dumps the interface's addresses, so following fast adverts
// would make it most of what an idle daemon does. The backstop check
// while the VIPs are held keeps its default (netsetup.DefaultBackstop).
func vipRecheck(advert time.Duration) time.Duration {
	return max(advert, netsetup.DefaultRecheck)
}

// setTracks gives u a tracker for the track rules of in, resolved against
// cfg, fed by the scheduler: a tracker made while the checks run starts
// from their current states. The new tracker is built before the one u
// had is let go: when a rule cannot be set up, the error says why and u
// keeps its tracker (its priority follows its old rules).
func (d *Daemon) setTracks(u *vrrpUnit, in *config.VRRPInstance, cfg *config.Config) error {
	if len(in.Track) == 0 {
		u.dropTracker()
		u.setAdjust(0)
		return nil
	}
	// The tracker applies nothing until it has the current states: a
	// tracker made by a reload starts with every rule failing, and a
	// master must not advertise that for a moment.
	var armed atomic.Bool
	set := u.setAdjust
	tr := healthcheck.NewTracker(func(delta int) {
		if armed.Load() {
			set(delta)
		}
	})
	for _, t := range in.Track {
		var err error
		if t.Listener != "" {
			l, ok := cfg.Listener(t.Listener)
			if !ok {
				return fmt.Errorf("tracking listener %q of %q: no such listener", t.Listener, in.Name)
			}
			err = tr.TrackNoneServing("listener "+t.Listener, backendIDs(l), t.Weight)
		} else {
			err = tr.TrackBackend(t.Backend, t.Weight)
		}
		if err != nil {
			return fmt.Errorf("setting up the tracks of %q: %w", in.Name, err)
		}
	}
	u.dropTracker()
	u.unsubscribe = d.sched.Subscribe(tr.Handle) // replays the current states when running
	armed.Store(true)
	tr.Flush()
	u.tracker = tr
	return nil
}

// dropTracker lets u's tracker go, if it has one: it no longer hears the
// checks.
func (u *vrrpUnit) dropTracker() {
	if u.unsubscribe != nil {
		u.unsubscribe()
	}
	u.unsubscribe, u.tracker = nil, nil
}

// startUnit runs the advert sender process if it does not run yet, and
// the unit's notify hooks, VIP announcements and instance. The caller
// holds d.mu.
func (d *Daemon) startUnit(u *vrrpUnit) {
	d.startUnitParts(u, true)
}

// startUnitParts is startUnit with the instance's part critical or not.
func (d *Daemon) startUnitParts(u *vrrpUnit, critical bool) {
	d.startSender()
	d.startHooks(u)
	u.vipsPart = d.parts.start(d.runCtx, "VIPs of "+u.cfg.Name, true, u.vips.Run)
	u.instPart = d.parts.startProbed(d.runCtx, "VRRP instance "+u.cfg.Name, critical, u.inst.Run, u.inst)
}

// startAddedUnit starts u, an instance the running daemon adds (a
// reload, a restart in place), and waits until the instance runs: its
// sockets open, or in FAULT while its interface is not ready (it does not
// exist, or has no IPv4 address: the instance waits for it, as one started
// with the daemon does). When it cannot run (its sockets cannot be opened
// for another reason) the unit is stopped and taken out of the model, and
// the error says why: the daemon runs on without it. Once running, the
// instance is critical like one started with the daemon. The caller holds
// d.mu.
func (d *Daemon) startAddedUnit(u *vrrpUnit) error {
	d.startUnitParts(u, false)
	select {
	case <-u.inst.Started():
		u.instPart.makeCritical()
		return nil
	case <-u.instPart.done:
	}
	err := errors.Unwrap(u.instPart.err) // Run's own, without the part's name
	if err == nil {
		err = errors.New("the instance stopped before it ran")
	}
	u.stop()
	u.forget()
	delete(d.units, u.cfg.Name)
	return err
}

// stop stops the instance (a master sends priority 0 and releases its
// VIPs), then its announcements, and lets its notify hooks finish in the
// background (stopHooks). Safe to call on a unit never started.
func (u *vrrpUnit) stop() {
	if u.instPart != nil {
		u.instPart.stop()
	}
	if u.vipsPart != nil {
		u.vipsPart.stop()
	}
	u.stopHooks()
}

// forget drops what the unit holds beyond its goroutines: its tracker's
// subscription and its metrics. Call it after stop.
func (u *vrrpUnit) forget() {
	if u.unsubscribe != nil {
		u.unsubscribe()
		u.unsubscribe = nil
	}
	u.reg.unregisterAll()
}

// stopUnits stops every unit at once and waits for all.
func stopUnits(units map[string]*vrrpUnit) {
	var wg sync.WaitGroup
	for _, u := range units {
		wg.Go(u.stop)
	}
	wg.Wait()
}
