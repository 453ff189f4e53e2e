package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/vrrp"
)

// update gives the unit's instance and VIP set the settings of c.New
// while they run: the instance first (it refuses what only a restart can
// change, such as the interface), then the VIPs (which, held, are added,
// removed and announced at once). The instance applies its part at its
// next step; see vrrp.Instance.Update and netsetup.VIPSet.Update.
//
// kept (nil: none) names the VIPs this unit gives up that another unit,
// MASTER, takes in the same reload: their sessions stay (see
// releasingOwner.updateKeeping).
func (u *vrrpUnit) update(c VRRPChange, kept func(netip.Addr) bool) error {
	if c.Settings {
		if err := u.inst.Update(c.New.VRRPConfig()); err != nil {
			return err
		}
	}
	if c.VIPs {
		var err error
		if ro, ok := u.vips.(*releasingOwner); ok {
			err = ro.updateKeeping(c.New.VIPConfig(), kept)
		} else {
			err = u.vips.Update(c.New.VIPConfig())
		}
		if err != nil {
			return fmt.Errorf("updating the VIPs of %q: %w", c.Name, err)
		}
	}
	if r, ok := u.vips.(recheckSetter); ok && c.Old.AdvertInterval != c.New.AdvertInterval {
		r.SetRecheck(vipRecheck(c.New.AdvertInterval))
	}
	return nil
}

// recheckSetter is a VIP owner whose fault hold-down and checks while
// faulty follow the advert interval (netsetup.VIPSet.SetRecheck; see
// vipRecheck).
type recheckSetter interface{ SetRecheck(time.Duration) }

// vipGiversFirst orders the changes of a plan so that an update that
// gives up a VIP that another instance of this daemon takes comes before
// the update of that instance: the address leaves the interface and comes
// back at once, added by its new instance, which then owns it whatever its
// marker (a VIP already there when its instance is updated would be
// someone else's if it can carry no marker). The order is otherwise kept.
func vipGiversFirst(cs []VRRPChange) []VRRPChange {
	taken := map[netip.Addr]bool{}
	for _, c := range cs {
		if c.Op == OpUpdate && c.VIPs {
			for _, a := range added(c.Old.VIPs, c.New.VIPs) {
				taken[a] = true
			}
		}
	}
	gives := func(c VRRPChange) bool {
		return c.Op == OpUpdate && c.VIPs && slices.ContainsFunc(added(c.New.VIPs, c.Old.VIPs), func(a netip.Addr) bool { return taken[a] })
	}
	out := slices.Clone(cs)
	slices.SortStableFunc(out, func(a, b VRRPChange) int {
		switch ga, gb := gives(a), gives(b); {
		case ga && !gb:
			return -1
		case gb && !ga:
			return 1
		}
		return 0
	})
	return out
}

// added returns the addresses of to that from does not have.
func added(from, to []netip.Prefix) []netip.Addr {
	var as []netip.Addr
	for _, p := range to {
		if !slices.ContainsFunc(from, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
			as = append(as, p.Addr())
		}
	}
	return as
}

// takenByMaster returns whether a VIP goes, by the reload to nc, to a unit
// of units other than the one named that is MASTER: its address stays on
// the host. The caller holds d.mu.
func takenByMaster(units map[string]*vrrpUnit, nc *config.Config, name string) func(netip.Addr) bool {
	return func(a netip.Addr) bool {
		for n, u := range units {
			if n == name {
				continue
			}
			in, ok := nc.VRRPInstance(n)
			if !ok || !slices.ContainsFunc(in.VIPs, func(p netip.Prefix) bool { return p.Addr() == a }) {
				continue
			}
			if u.inst.Snapshot().State == vrrp.StateMaster {
				return true
			}
		}
		return false
	}
}
