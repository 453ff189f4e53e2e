package netsetup

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// RemoveStale removes, on every interface of the current network
// namespace, the addresses that carry rmqlb's marker for label (a VIPConfig
// Label tag; "" means DefaultLabel). Run it once at daemon start, before any
// VIPSet acquires: a daemon that was SIGKILLed could not release its VIPs,
// and a host that is not master must not keep them.
//
// Only addresses for which isOurs holds are touched (see the package
// documentation for the marker scheme); an address somebody else added,
// even the same IP, survives. It returns the prefixes removed and all
// errors joined; it tries every address even after an error.
func RemoveStale(label string, logger *zap.Logger) ([]netip.Prefix, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	tag := label
	if tag == "" {
		tag = DefaultLabel
	}
	if err := validateTag(tag); err != nil {
		return nil, fmt.Errorf("removing stale VIPs: label: %w", err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("removing stale VIPs: listing interfaces: %w", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	addrs, err := listAddrs(0)
	if err != nil {
		return nil, fmt.Errorf("removing stale VIPs: listing addresses: %w", err)
	}
	var removed []netip.Prefix
	var errs []error
	for _, a := range addrs {
		ifname, ok := names[a.linkIndex]
		if !ok || !isOurs(a, ifname, tag) {
			continue
		}
		err := delAddr(a.linkIndex, a.prefix, a.label)
		if err != nil && !isErrno(err, unix.ENOENT, unix.EADDRNOTAVAIL, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("removing stale VIP %s from %s: %w", a.prefix, ifname, err))
			continue
		}
		logger.Info("removed stale VIP", zap.String("interface", ifname), zap.Stringer("vip", a.prefix), zap.String("label", a.label), zap.Uint8("proto", a.proto))
		removed = append(removed, a.prefix)
	}
	return removed, errors.Join(errs...)
}
