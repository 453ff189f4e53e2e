package netsetup

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// StaleScope is one interface and the VIPs configured on it: the part of
// the host RemoveStaleScoped may clean up.
type StaleScope struct {
	// Interface is the interface name, as in VIPConfig.Interface.
	Interface string
	// VIPs are the VIPs configured on it; only their addresses (whatever
	// the prefix length) are considered.
	VIPs []netip.Prefix
}

// RemoveStaleScoped removes the addresses rmqlb's marker for label (a
// VIPConfig Label tag; "" means DefaultLabel) says are ours, and only
// those among the VIPs of scope, each on its own interface. Run it once at
// daemon start, before any VIPSet acquires: a daemon that was SIGKILLed
// could not release its VIPs, and a host that is not master must not keep
// them. Addresses outside the scope are never touched, even with our
// marker: they may be another daemon's live VIPs (another configuration,
// or another instance of this one that a start-up lock should have kept
// out). An interface that does not exist is skipped.
//
// Only addresses for which isOurs holds are removed (see the package
// documentation for the marker scheme); an address somebody else added,
// even the same IP, survives. VIPs that can carry no marker on this kernel
// (MarkerBookkeeping) cannot be recognised and are left alone; this is
// logged. It returns the prefixes removed and all errors joined; it tries
// every address even after an error.
func RemoveStaleScoped(scope []StaleScope, label string, logger *zap.Logger) ([]netip.Prefix, error) {
	tag, logger, err := staleArgs(label, logger)
	if err != nil {
		return nil, err
	}
	addrs, err := listAddrs(0)
	if err != nil {
		return nil, fmt.Errorf("removing stale VIPs: listing addresses: %w", err)
	}
	proto := kernelAddrProto()
	var removed []netip.Prefix
	var errs []error
	for _, sc := range scope {
		link, err := netlink.LinkByName(sc.Interface)
		if err != nil {
			if !isLinkGone(err) {
				errs = append(errs, fmt.Errorf("removing stale VIPs: looking up interface %s: %w", sc.Interface, err))
			}
			continue
		}
		index := link.Attrs().Index
		want := make(map[netip.Addr]bool, len(sc.VIPs))
		for _, p := range sc.VIPs {
			want[p.Addr()] = true
			if markerFor(p, sc.Interface, tag, proto) == MarkerBookkeeping {
				logger.Info("a stale copy of this VIP cannot be recognised (no address protocol on this kernel, no room for a label): left alone if present",
					zap.String("interface", sc.Interface), zap.Stringer("vip", p))
			}
		}
		r, err := removeStale(addrs, logger, func(a addrInfo) (string, bool) {
			return sc.Interface, a.linkIndex == index && want[a.prefix.Addr()]
		}, tag)
		removed = append(removed, r...)
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}

// staleArgs checks and defaults the label and logger arguments of
// RemoveStaleScoped.
func staleArgs(label string, logger *zap.Logger) (string, *zap.Logger, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	tag := label
	if tag == "" {
		tag = DefaultLabel
	}
	if err := validateTag(tag); err != nil {
		return "", nil, fmt.Errorf("removing stale VIPs: label: %w", err)
	}
	return tag, logger, nil
}

// removeStale removes the addresses in scope (which also names their
// interface) that carry the marker of tag.
func removeStale(addrs []addrInfo, logger *zap.Logger, scope func(addrInfo) (ifname string, ok bool), tag string) ([]netip.Prefix, error) {
	return removeAddrs(addrs, func(a addrInfo) bool {
		ifname, ok := scope(a)
		if !ok || !isOurs(a, ifname, tag) {
			return false
		}
		logger.Info("removing stale VIP", zap.String("interface", ifname), zap.Stringer("vip", a.prefix), zap.String("label", a.label), zap.Uint8("proto", a.proto))
		return true
	})
}

// removeAddrs removes the addresses for which match holds, each from its
// own link, passing its label (so that the kernel deletes only an IPv4
// address carrying it). An address already gone is fine. It returns the
// prefixes removed and the other errors joined.
func removeAddrs(addrs []addrInfo, match func(addrInfo) bool) ([]netip.Prefix, error) {
	var removed []netip.Prefix
	var errs []error
	for _, a := range addrs {
		if !match(a) {
			continue
		}
		err := delAddr(a.linkIndex, a.prefix, a.label)
		if err != nil && !isErrno(err, unix.ENOENT, unix.EADDRNOTAVAIL, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("removing VIP %s: %w", a.prefix, err))
			continue
		}
		removed = append(removed, a.prefix)
	}
	return removed, errors.Join(errs...)
}
