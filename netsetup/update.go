package netsetup

import (
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"
)

// Update gives the VIPSet new VIPs and gratuitous ARP settings while it
// runs (a reload); the interface and the label cannot change. A VIP that
// stays (same address and prefix length) is not touched. While held, VIPs
// no longer configured are removed (if ours), new ones are added and
// announced at once (a new burst, for every VIP, on the new schedule), and
// the socket hearing other hosts is opened again for the new list; a VIP
// that cannot be added makes the VIPSet faulty as in Acquire (reported
// through ReportFaults), and Update returns that error too, with the new
// configuration in force. While not held only the configuration changes.
// A configuration Update cannot apply (invalid, another interface or
// label) is an error and changes nothing. Safe for concurrent use with
// Acquire and Release, which it waits for.
func (s *VIPSet) Update(cfg VIPConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("updating VIPs: %w", err)
	}
	if cfg.Interface != s.cfg.Interface || cfg.tag() != s.tag {
		return fmt.Errorf("updating VIPs: interface %s and label %s cannot change (to %s, %s) while the daemon runs",
			s.cfg.Interface, s.tag, cfg.Interface, cfg.tag())
	}
	cfg.GARP = cfg.GARP.withDefaults()
	cfg.VIPs = slices.Clone(cfg.VIPs)
	s.opMu.Lock()
	defer s.opMu.Unlock()

	s.mu.Lock()
	old, held := s.vips, s.held
	s.mu.Unlock()
	var dropped, added []*vipState
	next := make([]*vipState, 0, len(cfg.VIPs))
	for _, p := range cfg.VIPs {
		i := slices.IndexFunc(old, func(v *vipState) bool { return v.prefix == p })
		if i >= 0 {
			next = append(next, old[i])
			continue
		}
		v := &vipState{prefix: p, marker: markerFor(p, cfg.Interface, s.tag, s.addrProto)}
		next = append(next, v)
		added = append(added, v)
	}
	for _, v := range old {
		if !slices.Contains(next, v) {
			dropped = append(dropped, v)
		}
	}

	var errs []error
	if held && len(dropped) > 0 {
		errs = append(errs, s.removeAll(dropped))
	}
	s.mu.Lock()
	s.vips = next
	s.cfg.VIPs, s.cfg.GARP = cfg.VIPs, cfg.GARP
	s.mu.Unlock()
	s.ann.setConfig(cfg.GARP)
	for _, v := range added {
		s.log.Info("VIP configured", zap.Stringer("vip", v.prefix), zap.String("marker", string(v.marker)))
	}
	for _, v := range dropped {
		s.log.Info("VIP no longer configured", zap.Stringer("vip", v.prefix))
	}
	// The metrics name the VIPs: a series of the old list would name
	// VIPs the set no longer has.
	if err := s.m.relabel(vipsLabel(cfg.VIPs)); err != nil {
		s.log.Warn("relabelling the VIP metrics", zap.Error(err))
	}
	if !held {
		return errors.Join(errs...)
	}
	// Held: add what is new (and anything missing), reopen the sockets for
	// the new list, announce.
	link, err := linkByName(s.cfg.Interface)
	if err != nil {
		err = fmt.Errorf("updating VIPs: %w", err)
		s.setFault(err)
		return errors.Join(append(errs, err)...)
	}
	if err := s.addAll(link.Attrs().Index); err != nil {
		err = fmt.Errorf("updating VIPs: %w", err)
		s.setFault(err)
		errs = append(errs, err)
	} else {
		s.clearFault()
	}
	s.mu.Lock()
	s.closeSenders()
	if err := s.openSenders(link.Attrs()); err != nil {
		s.log.Warn("cannot send announcements", zap.Error(err))
	}
	s.mu.Unlock()
	if len(added) > 0 {
		s.ann.start()
	}
	return errors.Join(errs...)
}

// removeAll removes the VIPs of vs that are present as ours. Called with
// opMu held.
func (s *VIPSet) removeAll(vs []*vipState) error {
	link, err := linkByName(s.cfg.Interface)
	if err != nil {
		if isLinkGone(err) {
			return nil
		}
		return fmt.Errorf("removing VIPs: %w", err)
	}
	present, err := listAddrs(link.Attrs().Index)
	if err != nil {
		return fmt.Errorf("removing VIPs: listing addresses of %s: %w", s.cfg.Interface, err)
	}
	var errs []error
	for _, v := range vs {
		errs = append(errs, s.remove(present, v))
	}
	return errors.Join(errs...)
}

// setConfig makes the schedule follow cfg from now on, without restarting
// it.
func (a *announcer) setConfig(cfg GARPConfig) {
	a.mu.Lock()
	a.cfg = cfg
	a.sched.cfg = cfg
	a.mu.Unlock()
	a.wake()
}
