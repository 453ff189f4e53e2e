package daemon

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
)

// listenerUnit is one running listener. Its fields are guarded by
// Daemon.mu.
type listenerUnit struct {
	cfg  *config.Listener
	l    *balancer.Listener
	reg  *partRegistry
	part *part // nil until started
	// handed is set when the listening socket came from the daemon this
	// process succeeds.
	handed bool
	// vipBound tells whether the balancer was last configured with its
	// bind a VIP of this daemon (closed at once on stop).
	vipBound bool
}

// newListener creates (without starting) the listener of l and registers
// it with the router.
func (d *Daemon) newListener(cfg *config.Config, l *config.Listener) (*listenerUnit, error) {
	reg := newPartRegistry(d.reg)
	bc := cfg.BalancerConfig(l)
	bc.Loops = d.opt.ProxyLoops
	bc.Holds = d.holds
	bl, err := balancer.NewListener(bc, d.log, reg)
	if err != nil {
		return nil, fmt.Errorf("setting up listener %q: %w", l.Name, err)
	}
	u := &listenerUnit{cfg: l, l: bl, reg: reg, vipBound: cfg.VIPOwned(l.Bind.Addr())}
	d.listeners[l.Name] = u
	d.router.setListener(l.Name, bl)
	return u, nil
}

// startListener runs u and waits until it is bound or has failed: the
// error is the listener's own (a bind error says which address and why).
// A critical listener that fails later stops the daemon; one started by a
// reload is not critical: its failure is its own.
func (d *Daemon) startListener(u *listenerUnit, critical bool) error {
	u.part = d.parts.startProbed(d.runCtx, "listener "+u.cfg.Name, critical, u.l.Run, u.l)
	select {
	case <-u.l.Ready():
		return nil
	case <-u.part.done:
		if u.part.err != nil {
			return errors.Unwrap(u.part.err) // Run's own, without the part's name
		}
		return fmt.Errorf("listener %s: stopped before it was bound", u.cfg.Name)
	}
}

// stop stops the listener: it stops accepting and lets its sessions finish
// for its graceful timeout (at once when bound to a VIP of this daemon).
func (u *listenerUnit) stop() {
	if u.part != nil {
		u.part.stop()
	}
}

// drainBound is how long a stop of the listener lets its sessions finish
// at most: its graceful_timeout, or 0 when it closes them at once (bound
// to a VIP of this daemon, or not running). The caller holds Daemon.mu.
func (u *listenerUnit) drainBound() time.Duration {
	if u.part == nil || u.vipBound {
		return 0
	}
	return u.cfg.GracefulTimeout
}

// stopAccepting stops the listener and returns once it has closed its
// listening socket (or ended): its sessions drain in the background for
// its graceful timeout, and the daemon's group of parts waits for them
// before Run returns. A reload that removes or moves a listener answers
// without waiting for the drain.
func (u *listenerUnit) stopAccepting() {
	if u.part == nil {
		return
	}
	u.part.cancel()
	select {
	case <-u.l.Closed():
	case <-u.part.done:
	}
}

// detachListener takes listener name out of the model, the router and the
// metrics; the caller stops it (without holding Daemon.mu: a stop waits
// for sessions). The caller holds Daemon.mu.
func (d *Daemon) detachListener(name string) {
	u := d.listeners[name]
	if u == nil {
		return
	}
	d.router.setListener(name, nil)
	u.reg.unregisterAll()
	delete(d.listeners, name)
}

// syncListenerVIPs configures again the listeners whose bind became or
// ceased to be a VIP of this daemon in the running model (an instance
// added, removed or refused, VIPs moved): they are closed at once on stop
// when bound to one. A reload calls it once its VRRP changes are applied;
// what it does is added to applied, what fails to refuse. The caller holds
// Daemon.mu.
func (d *Daemon) syncListenerVIPs(applied func(string, ...any), refuse func(string, error)) {
	for i := range d.cfg.Listeners {
		l := &d.cfg.Listeners[i]
		u := d.listeners[l.Name]
		bound := d.cfg.VIPOwned(l.Bind.Addr())
		if u == nil || u.vipBound == bound {
			continue
		}
		if err := u.l.Apply(d.cfg.BalancerConfig(l)); err != nil {
			refuse("listener "+l.Name, err)
			continue
		}
		u.vipBound = bound
		applied("%s", vipBindingApplied(l, bound))
	}
}

// vipBindingApplied is the line a reload lists for listener l whose bind
// became (bound) or ceased to be a VIP of this daemon.
func vipBindingApplied(l *config.Listener, bound bool) string {
	if bound {
		return fmt.Sprintf("listener %s: %s is a VIP of this daemon now", l.Name, l.Bind.Addr())
	}
	return fmt.Sprintf("listener %s: %s is no VIP of this daemon now", l.Name, l.Bind.Addr())
}

// syncListener gives the listener the current state of its checked
// backends: a listener started by a reload learns what the running checks
// already know instead of waiting for their next change.
func (d *Daemon) syncListener(u *listenerUnit) {
	for _, st := range d.sched.Snapshot().Backends {
		if st.Backend.Listener != u.cfg.Name {
			continue
		}
		if err := u.l.SetBackendState(st.Backend.Name, st.State, st.Reason); err != nil {
			d.log.Warn("setting backend state", zap.Stringer("backend", st.Backend), zap.Error(err))
		}
		if err := u.l.SetBackendWeightPercent(st.Backend.Name, st.WeightPercent); err != nil {
			d.log.Warn("setting backend weight", zap.Stringer("backend", st.Backend), zap.Error(err))
		}
		if err := u.l.SetBackendFull(st.Backend.Name, st.Full); err != nil {
			d.log.Warn("setting backend connection limit", zap.Stringer("backend", st.Backend), zap.Error(err))
		}
	}
}

// listenerOrder returns the listener names of cfg in file order.
func listenerOrder(cfg *config.Config) []string {
	names := make([]string, len(cfg.Listeners))
	for i, l := range cfg.Listeners {
		names[i] = l.Name
	}
	return names
}

// runListenerNow starts a listener added while the daemon runs.
func (d *Daemon) runListenerNow(cfg *config.Config, l *config.Listener) error {
	u, err := d.newListener(cfg, l)
	if err != nil {
		return err
	}
	d.syncListener(u)
	if err := d.startListener(u, false); err != nil {
		d.detachListener(l.Name)
		return err
	}
	return nil
}
