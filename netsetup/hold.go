package netsetup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Defaults of VIPSetOptions.Recheck and Backstop.
const (
	// DefaultRecheck is the period of the checks of the VIPs while they
	// cannot be held, when VIPSetOptions.Recheck is zero.
	DefaultRecheck = time.Second
	// MinRecheck is the shortest period of those checks; shorter values
	// are raised to it (a check dumps the interface's addresses).
	MinRecheck = 100 * time.Millisecond
	// DefaultBackstop is the period of the backstop check of the VIPs
	// while held, when VIPSetOptions.Backstop is zero. A VIP that
	// disappears is put back at its netlink event; the backstop only
	// covers an event lost without the kernel saying so (when it drops
	// events it says so, and the watch subscribes again and checks at
	// once). Each check dumps the interface's addresses: at one a second
	// they were most of what an idle master did.
	DefaultBackstop = 10 * time.Second
)

// ReportFaults registers report, which the VIPSet calls, never
// concurrently, from Acquire and from Run's watch: with a non-nil error
// when it cannot hold its VIPs (adding one failed, in Acquire or when
// putting back one that disappeared), and with nil once it could hold them
// again. report must only record what it is told and return: it is called
// while the VIPSet serialises Acquire and Release, so calling either from
// it would deadlock. The vrrp package's Instance registers
// itself when it runs with the VIPSet as its Owner, and then leaves MASTER
// while the VIPSet is faulty. A later call replaces report; nil
// unregisters it.
func (s *VIPSet) ReportFaults(report func(err error)) {
	s.mu.Lock()
	s.report = report
	s.mu.Unlock()
}

// recheckOrDefault returns VIPSetOptions.Recheck with its default and minimum
// applied.
func recheckOrDefault(d time.Duration) time.Duration {
	if d == 0 {
		d = DefaultRecheck
	}
	return max(d, MinRecheck)
}

// SetRecheck changes the period of the checks of the VIPs while they
// cannot be held, and the least time a fault lasts (see
// VIPSetOptions.Recheck; the daemon passes the VRRP advert interval, but
// at least DefaultRecheck, and a reload may change it). It applies from
// the next check on. Safe from any goroutine.
func (s *VIPSet) SetRecheck(d time.Duration) {
	s.mu.Lock()
	s.recheck = recheckOrDefault(d)
	s.mu.Unlock()
}

// recheckPeriod returns the current period of the checks while faulty.
func (s *VIPSet) recheckPeriod() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recheck
}

// watchPeriod returns the time from one check of the watch to the next:
// Recheck while the VIPs cannot be held, else the backstop's period (at
// least Recheck).
func (s *VIPSet) watchPeriod() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault != nil {
		return s.recheck
	}
	return max(s.backstop, s.recheck)
}

// watchHold runs the watch of the VIPs: on every address or link event of
// the namespace, when a fault begins, and every watchPeriod, check. It
// returns when ctx is done.
func (s *VIPSet) watchHold(ctx context.Context) error {
	w := &rtWatch{
		clock:     s.clock,
		subscribe: s.subscribe,
		sync:      s.check,
		period:    s.watchPeriod,
		nudge:     s.faultKick,
		retry:     min(s.recheckPeriod(), DefaultWatchRetry),
		// err is of subscribing (tried again after retry), of
		// receiving events (subscribed again, then checked afresh) or
		// of a check (tried again after retry): the error says which.
		onError: func(err error) {
			s.log.Warn("watching the VIPs failed; trying again", zap.Error(err))
		},
	}
	return w.run(ctx)
}

// subscribeAddrs subscribes to address and link events in the namespace
// of the calling thread.
func subscribeAddrs() (nlSub, error) {
	return nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR, unix.RTNLGRP_LINK)
}

// check compares the interface with what the VIPSet should hold. While
// held and healthy, a VIP that disappeared (a network manager flushed the
// interface, `ip addr del`) is added again, counted and announced; if that
// fails, the VIPSet becomes faulty and reports it. While faulty, it reports
// recovery once the VIPs could be held again, no sooner than Recheck after
// the fault: held, by adding what is missing; released, when the
// interface exists and no address somebody else added holds a VIP's IP.
// Not held and healthy, it does nothing. The error is that of reading the
// interface; check is retried then.
func (s *VIPSet) check() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	held, fault, faultAt, hold := s.held, s.fault, s.faultAt, s.faultHold
	s.mu.Unlock()
	if !held && fault == nil {
		return nil
	}
	if fault != nil && s.clock.Now().Sub(faultAt) < hold {
		return nil
	}
	link, err := linkByName(s.cfg.Interface)
	if isLinkGone(err) {
		if held {
			s.setFault(fmt.Errorf("holding VIPs: %w", err))
		}
		return nil
	}
	if err != nil {
		return err
	}
	ifindex := link.Attrs().Index
	present, err := listAddrs(ifindex)
	if err != nil {
		return fmt.Errorf("checking VIPs: listing addresses of %s: %w", s.cfg.Interface, err)
	}
	if !held {
		if err := s.holdable(present); err != nil {
			return nil // still faulty
		}
		s.clearFault()
		return nil
	}
	newHW := s.followLink(link.Attrs())
	var errs []error
	readded := false
	for _, v := range s.vips {
		if s.isPresent(present, v) {
			// Held: an error of an earlier check (the address looked
			// like somebody else's while the interface was renamed and
			// back) is over.
			s.mu.Lock()
			v.holdErr = ""
			s.mu.Unlock()
			continue
		}
		err := s.add(ifindex, present, v)
		s.mu.Lock()
		v.holdErr = errText(err)
		if err == nil {
			v.readded++
		}
		s.mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		readded = true
		s.m.inc(vipReadded)
		s.log.Warn("VIP disappeared from the interface; added it again", zap.Stringer("vip", v.prefix))
	}
	if err := errors.Join(errs...); err != nil {
		s.setFault(fmt.Errorf("holding VIPs: %w", err))
		return nil
	}
	if readded || newHW {
		// Neighbours may have lost the address meanwhile, or still
		// have the old hardware address.
		s.ann.start()
	}
	s.clearFault()
	return nil
}

// isPresent reports whether v is present on the interface as ours.
func (s *VIPSet) isPresent(present []addrInfo, v *vipState) bool {
	for _, a := range present {
		if a.prefix.Addr() == v.prefix.Addr() && s.ours(a, v) {
			return true
		}
	}
	return false
}

// holdable reports why the VIPs could not be added now, given the
// addresses present: an address somebody else added holds a VIP's IP.
func (s *VIPSet) holdable(present []addrInfo) error {
	for _, v := range s.vips {
		for _, a := range present {
			if a.prefix.Addr() == v.prefix.Addr() && !s.ours(a, v) {
				return fmt.Errorf("VIP %s: present without rmqlb's marker", v.prefix)
			}
		}
	}
	return nil
}

// followLink follows the interface while held. When it got a new index
// (it was deleted and created again) the announcement sockets are opened
// again on it; when its hardware address changed (`ip link set dev X
// address ...`, a bond's failover, or a re-created interface) the VIPSet
// records the new one. It reports whether the hardware address changed:
// the caller then restarts the burst of announcements, so that neighbours
// learn the new address at once. Called with opMu held.
func (s *VIPSet) followLink(attrs *netlink.LinkAttrs) (newHW bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !bytes.Equal(attrs.HardwareAddr, s.hw) {
		s.log.Info("the interface's hardware address changed; announcing the VIPs with it",
			zap.Stringer("old_mac", s.hw), zap.Stringer("new_mac", attrs.HardwareAddr))
		s.hw = attrs.HardwareAddr
		newHW = true
	}
	if attrs.Index == s.ifindex {
		return newHW
	}
	s.ifindex = attrs.Index
	s.closeSenders()
	if err := s.openSenders(attrs); err != nil {
		s.log.Warn("cannot send announcements", zap.Error(err))
	}
	return newHW
}

// A fault that begins within repeatWindow of the end of the one before is
// a repeat: the VIPs looked holdable again (no address of someone else's
// in the way) and then could not be held after all, as with an error that
// persists (EPERM from a security module, say). Each repeat doubles the
// fault's hold-down, up to maxFaultHold, so that the instance does not
// preempt, fail and hand the VIPs back every few seconds. The window is
// long enough for the cycle at any advert interval and preempt_delay
// (the instance takes the VIPs again a master down interval, and its
// preempt delay, after the fault ends); a fault an hour later starts
// again from Recheck.
const (
	repeatWindow = 10 * time.Minute
	maxFaultHold = 5 * time.Minute
)

// faultHoldDown is the hold-down of a fault with recheck as the base and
// repeats repeats before it.
func faultHoldDown(recheck time.Duration, repeats int) time.Duration {
	d := recheck
	for range repeats {
		if d >= maxFaultHold/2 {
			return maxFaultHold
		}
		d *= 2
	}
	return min(d, maxFaultHold)
}

// setFault makes the VIPSet faulty with err and reports it when the fault
// is new or its error changed. Called with opMu held.
func (s *VIPSet) setFault(err error) {
	s.mu.Lock()
	first := s.fault == nil
	changed := first || s.fault.Error() != err.Error()
	s.fault = err
	if first {
		now := s.clock.Now()
		s.faultAt = now
		s.faults++
		if !s.clearedAt.IsZero() && now.Sub(s.clearedAt) < repeatWindow {
			s.repeats++
		} else {
			s.repeats = 0
		}
		s.faultHold = faultHoldDown(s.recheck, s.repeats)
	}
	hold := s.faultHold
	report := s.report
	s.mu.Unlock()
	if !changed {
		return
	}
	if first {
		s.m.inc(vipFaults)
		// The watch may wait for the backstop's period: it is to check
		// again Recheck after the fault.
		select {
		case s.faultKick <- struct{}{}:
		default:
		}
	}
	s.log.Error("cannot hold the VIPs", zap.Error(err), zap.Duration("hold_down", hold))
	if report != nil {
		report(err)
	}
}

// clearFault ends a fault and reports it. Called with opMu held.
func (s *VIPSet) clearFault() {
	s.mu.Lock()
	was := s.fault != nil
	s.fault = nil
	if was {
		s.clearedAt = s.clock.Now()
	}
	report := s.report
	s.mu.Unlock()
	if !was {
		return
	}
	s.log.Info("VIPs can be held again")
	if report != nil {
		report(nil)
	}
}
