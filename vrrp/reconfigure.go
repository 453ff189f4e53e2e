package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Reconfigure gives the machine new settings while it runs (a reload):
// Config must have passed Validate and keep Name, Interface, VRID and
// Version. Nothing moves by itself: the state, the timers and the
// learnt master stay, and the new priorities decide at the next
// advertisement, by the usual rules:
//
//   - a MASTER whose advertisement changes (priority, interval, addresses,
//     authentication) sends one at once with the new values, so a backup
//     that now has a higher priority and may preempt takes over, and
//     VRRPv3 backups adopt a new interval at once;
//   - a BACKUP whose priority now exceeds the master's preempts, if
//     preempt is on, at its Master_Down_Timer (the master's next
//     advertisement is discarded); with preempt off, or a priority still
//     lower, it stays BACKUP.
//
// A preemption already pending on a BACKUP (it heard the master of lower
// priority) keeps its start, the first lower-priority advertisement, and
// follows the new settings from there: with a new preempt_delay it is due
// at that start plus the new delay (raising the delay puts it off,
// lowering it brings it forward, to the next step at the earliest; a
// delay lowered to zero leaves the preemption to the Master_Down_Timer,
// as RFC 5798 has it), with preempt turned off or a priority no longer above the master's it is
// cancelled (see backupSettingsChanged). A reload that changes none of
// priority, preempt and preempt_delay leaves its timer as it was. A
// BACKUP's running Master_Down_Timer is moved by the change of
// Master_Down_Interval (Skew_Time, late_adverts_tolerated) the reload
// makes (see rescaleDownTimer).
//
// So that a group can be reloaded one host after the other without a
// flap, an advertisement carrying the previous address list (or, for
// VRRPv2, the previous interval) is still accepted until one with the new
// one is heard: reload the backups first, the master last.
type Reconfigure struct{ Config Config }

func (Reconfigure) isEvent() {}

func (m *Machine) reconfigure(now time.Time, out []Action, cfg Config) []Action {
	before, base := m.EffectivePriority(), m.downTimerBase()
	old := m.cfg
	m.cfg = cfg
	m.authType, m.authData = cfg.auth()
	vips := cfg.vipAddrs()
	addrsChanged := !sameAddrs(vips, m.vips, &m.addrScratch)
	if addrsChanged {
		m.prevVIPs, m.vips = m.vips, vips
	}
	if cfg.Version == 2 && cfg.AdvertInterval != old.AdvertInterval {
		m.prevInterval = old.AdvertInterval
	}
	if cfg.Version == 3 && cfg.maxAdopted() < old.maxAdopted() {
		m.prevMaxAdopted = max(m.prevMaxAdopted, old.maxAdopted())
	}
	switch {
	case m.state != StateBackup:
		// A master uses its own.
		m.masterAdverInterval = cfg.AdvertInterval
	case cfg.Version == 2:
		// VRRPv2 adverts carry our interval, or the previous one
		// until the master is reloaded too: a master heard with the
		// previous one keeps it.
		if m.masterAdverInterval != m.prevInterval {
			m.masterAdverInterval = cfg.AdvertInterval
		}
	default:
		m.masterAdverInterval = min(m.masterAdverInterval, m.adoptLimit())
	}
	changed := m.EffectivePriority() != before || addrsChanged || cfg.AdvertInterval != old.AdvertInterval ||
		cfg.AuthPass != old.AuthPass
	if m.state == StateMaster && changed {
		out = append(out, SendAdvert{Priority: m.EffectivePriority()})
		m.adverAt = now.Add(cfg.AdvertInterval)
	}
	return m.backupTimersFollow(now, out, before, base, cfg.Preempt != old.Preempt || cfg.PreemptDelay != old.PreemptDelay)
}

// acceptsAddrs reports whether an advertisement with addrs matches the
// configured addresses, or the previous ones until an advert with the
// configured ones was heard.
func (m *Machine) acceptsAddrs(addrs []netip.Addr) bool {
	if sameAddrs(addrs, m.vips, &m.addrScratch) {
		return true
	}
	return m.prevVIPs != nil && sameAddrs(addrs, m.prevVIPs, &m.addrScratch)
}

// acceptsInterval reports whether a VRRPv2 advertisement's interval is the
// configured one, or the previous one until an advert with the configured
// one was heard.
func (m *Machine) acceptsInterval(iv time.Duration) bool {
	return iv == m.cfg.AdvertInterval || m.prevInterval != 0 && iv == m.prevInterval
}

// heardCurrent forgets the previous addresses and interval once an
// advertisement carries the configured ones, and the previous
// MaxAdoptedInterval once one is within the configured one.
func (m *Machine) heardCurrent(p *Packet) {
	if sameAddrs(p.Addrs, m.vips, &m.addrScratch) {
		m.prevVIPs = nil
	}
	if p.AdvertInterval == m.cfg.AdvertInterval {
		m.prevInterval = 0
	}
	if p.AdvertInterval <= m.cfg.maxAdopted() {
		m.prevMaxAdopted = 0
	}
}

// Reconfigurer is implemented by a Transport whose source address and
// destinations can change while it runs (IPv4Transport): Instance.Update
// needs it to change unicast_src or unicast_peers. Reconfigure is called
// from Run's goroutine, which is in the transport's network namespace.
type Reconfigurer interface {
	Reconfigure(cfg TransportConfig) error
}

// ErrNeedsRestart is wrapped by Instance.Update for a change that only a
// new Instance can apply: the name, interface, VRID or version, or the
// unicast settings of a Transport that is not a Reconfigurer.
var ErrNeedsRestart = errors.New("needs a restart")

// Update gives the instance new settings while it runs (a reload of the
// configuration file): everything but Name, Interface, VRID and Version
// may change. cfg is validated here (see CheckUpdate); Run applies it at
// its next step (the Reconfigure event: see there for what moves and what
// does not) and, when unicast_src or unicast_peers change, reconfigures
// the transport first. A release (StepDown) and the priority adjustment
// of the tracks stay. Safe from any goroutine; an Update before Run is
// applied at its start.
func (i *Instance) Update(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("updating VRRP instance %q: %w", cfg.Name, err)
	}
	cfg.UnicastPeers = slices.Clone(cfg.UnicastPeers)
	cfg.AllowedPeers = slices.Clone(cfg.AllowedPeers)
	cfg.VIPs = slices.Clone(cfg.VIPs)
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.updateRefusalLocked(cfg); err != nil {
		return err
	}
	i.cfgWant = &cfg
	i.kick()
	return nil
}

// CheckUpdate returns the error Update would return for cfg, without
// applying anything: a caller that must change other parts with the
// instance (its VIPs) checks first, so that a refusal leaves the instance
// as it was. Safe from any goroutine.
func (i *Instance) CheckUpdate(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("updating VRRP instance %q: %w", cfg.Name, err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.updateRefusalLocked(cfg)
}

// updateRefusalLocked returns why the valid cfg cannot be applied by
// Update (nil when it can): what only a new Instance can change. The
// caller holds i.mu.
func (i *Instance) updateRefusalLocked(cfg Config) error {
	cur := i.cfg
	if i.cfgWant != nil {
		cur = *i.cfgWant
	}
	for _, f := range []struct {
		key      string
		old, new any
	}{
		{"name", cur.Name, cfg.Name}, {"interface", cur.Interface, cfg.Interface},
		{"virtual_router_id", cur.VRID, cfg.VRID}, {"version", cur.Version, cfg.Version},
	} {
		if f.old != f.new {
			return fmt.Errorf("updating VRRP instance %q: %s changed from %v to %v: %w", cur.Name, f.key, f.old, f.new, ErrNeedsRestart)
		}
	}
	if transportChanged(cur, cfg) && i.opt.Transport != nil {
		if _, ok := i.opt.Transport.(Reconfigurer); !ok {
			return fmt.Errorf("updating VRRP instance %q: unicast_src or unicast_peers of a transport that cannot change: %w", cur.Name, ErrNeedsRestart)
		}
	}
	return nil
}

// transportChanged reports whether the transport must change from a to b.
func transportChanged(a, b Config) bool {
	return a.UnicastSrc != b.UnicastSrc || !slices.Equal(a.UnicastPeers, b.UnicastPeers)
}

// applyConfig applies the settings Update was given, if any: the
// transport first, then the instance's own, then the machine's.
func (i *Instance) applyConfig(tr Transport, ow *ownerWorker) {
	i.mu.Lock()
	want := i.cfgWant
	i.cfgWant = nil
	old := i.cfg
	i.mu.Unlock()
	if want == nil {
		return
	}
	cfg := *want
	// New VIPs change the addresses the transport must never pick as its
	// source (when it picks one, and again after a rebind): a transport
	// that can take them is told; one that cannot has none to pick.
	r, canReconfigure := tr.(Reconfigurer)
	vipsChanged := canReconfigure && !slices.Equal(old.vipAddrs(), cfg.vipAddrs())
	if transportChanged(old, cfg) || vipsChanged {
		err := errors.New("the transport cannot change")
		if canReconfigure {
			err = r.Reconfigure(TransportConfig{Interface: cfg.Interface, Source: cfg.UnicastSrc, Peers: cfg.UnicastPeers, Exclude: cfg.vipAddrs()})
		}
		if err != nil {
			i.log.Error("cannot reconfigure the VRRP transport (unicast_src, unicast_peers, or the VIPs it must not take for its source); keeping the old unicast settings and allowed_peers", zap.Error(err))
			cfg.UnicastSrc, cfg.UnicastPeers, cfg.AllowedPeers = old.UnicastSrc, old.UnicastPeers, old.AllowedPeers
		}
	}
	i.mu.Lock()
	i.cfg = cfg
	i.allowed = cfg.allowList()
	i.src, i.dests = tr.Source().Unmap(), tr.Destinations()
	i.m.primary = i.src
	i.mu.Unlock()
	i.log.Info("VRRP settings changed", zap.Uint8("priority", cfg.Priority), zap.Duration("advert_interval", cfg.AdvertInterval),
		zap.Bool("preempt", cfg.Preempt), zap.Stringer("source", i.src), zap.Stringers("destinations", i.dests))
	i.step(tr, ow, Reconfigure{Config: cfg})
}
