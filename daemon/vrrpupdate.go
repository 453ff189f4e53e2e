package daemon

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/vrrp"
)

// update gives the unit's instance and VIP set the settings of c.New
// while they run, or, refused, leaves both as they were (a refused part
// keeps running its old configuration, as the running model then says):
// the instance's settings are checked first (it refuses what only a
// restart can change, such as the interface), then the VIPs change
// (which, held, are added, removed and announced at once), and only then
// does the instance take its settings, the VIPs its adverts announce
// among them. A VIP set that cannot take its new VIPs is given its old
// ones again (a VIP set that fails while held keeps the configuration it
// was given, see netsetup.VIPSet.Update), so that the host holds, and the
// adverts announce, the old VIPs. The instance applies its part at its
// next step; see vrrp.Instance.Update.
//
// kept (nil: none) names the VIPs this unit gives up that another unit,
// MASTER, takes in the same reload: their sessions stay (see
// releasingOwner.updateKeeping).
func (u *vrrpUnit) update(c VRRPChange, kept func(netip.Addr) bool) error {
	if c.Settings {
		if err := u.inst.CheckUpdate(c.New.VRRPConfig()); err != nil {
			return err
		}
	}
	if c.VIPs {
		if err := u.updateVIPs(c.New, kept); err != nil {
			return u.restoreVIPs(c, fmt.Errorf("updating the VIPs of %q: %w", c.Name, err))
		}
	}
	if c.Settings {
		if err := u.inst.Update(c.New.VRRPConfig()); err != nil {
			if c.VIPs {
				return u.restoreVIPs(c, err)
			}
			return err
		}
	}
	if r, ok := u.vips.(recheckSetter); ok && c.Old.AdvertInterval != c.New.AdvertInterval {
		r.SetRecheck(vipRecheck(c.New.AdvertInterval))
	}
	return nil
}

// updateVIPs gives the unit's VIP set the VIPs of in; kept is as for
// update.
func (u *vrrpUnit) updateVIPs(in *config.VRRPInstance, kept func(netip.Addr) bool) error {
	if ro, ok := u.vips.(*releasingOwner); ok {
		return ro.updateKeeping(in.VIPConfig(), kept)
	}
	return u.vips.Update(in.VIPConfig())
}

// restoreVIPs gives the unit's VIP set the VIPs of c.Old again after err
// refused c, and returns err, with what restoring them met if it failed
// (the VIP set then has the old configuration and recovers it as it does
// any fault).
func (u *vrrpUnit) restoreVIPs(c VRRPChange, err error) error {
	if rerr := u.updateVIPs(c.Old, nil); rerr != nil {
		u.log.Warn("restoring the VIPs of a refused update", zap.Error(rerr))
		return fmt.Errorf("%w; restoring its old VIPs: %v", err, rerr)
	}
	return err
}

// recheckSetter is a VIP owner whose fault hold-down and checks while
// faulty follow the advert interval (netsetup.VIPSet.SetRecheck; see
// vipRecheck).
type recheckSetter interface{ SetRecheck(time.Duration) }

// vipOrder orders the changes of a plan so that a change that gives up a
// VIP comes before the change of another instance that takes it (an add,
// or an update): the address leaves the interface and comes back at once,
// added by its new instance, which then owns it whatever its marker (a VIP
// already there when its instance is updated would be someone else's if
// it can carry no marker), and a refused change of the giver is known
// before the take (see vipHolders). Changes that give each other VIPs (a
// swap) cannot all come after their givers: they keep the plan's order.
// The order is otherwise kept.
func vipOrder(cs []VRRPChange) []VRRPChange {
	gives := func(g, t VRRPChange) bool {
		if g.Name == t.Name || g.Op != OpUpdate || !g.VIPs {
			return false
		}
		given := added(g.New.VIPs, g.Old.VIPs)
		return slices.ContainsFunc(taken(t), func(a netip.Addr) bool { return slices.Contains(given, a) })
	}
	rest := slices.Clone(cs)
	out := make([]VRRPChange, 0, len(cs))
	for len(rest) > 0 {
		i := slices.IndexFunc(rest, func(t VRRPChange) bool {
			return !slices.ContainsFunc(rest, func(g VRRPChange) bool { return gives(g, t) })
		})
		if i < 0 {
			i = 0 // a swap: the plan's order
		}
		out = append(out, rest[i])
		rest = slices.Delete(rest, i, i+1)
	}
	return out
}

// taken returns the VIPs that change c gives its instance: all of an added
// instance's, the new ones of an update.
func taken(c VRRPChange) []netip.Addr {
	switch {
	case c.Op == OpAdd:
		return added(nil, c.New.VIPs)
	case c.Op == OpUpdate && c.VIPs:
		return added(c.Old.VIPs, c.New.VIPs)
	}
	return nil
}

// vipHolders is which VRRP instance holds each VIP while a reload applies
// its VRRP changes in vipOrder: at first the running model's instances but
// those the plan removes (they release theirs first), then every change
// applied. A change that would take a VIP another instance still holds
// (its own change was refused, it awaits a restart, or it gives the VIP
// up only later in the reload: a swap) is refused too, so that no VIP is
// ever on two instances of the daemon, which would fight over the address
// and release it under each other. It belongs to one reload.
type vipHolders struct {
	by map[netip.Addr]string
	// pending names the instances whose change is still to be applied.
	pending map[string]bool
}

// newVIPHolders returns the holders of the VIPs of the running model old
// once the removals of p are applied.
func newVIPHolders(old *config.Config, p Plan) *vipHolders {
	h := &vipHolders{by: map[netip.Addr]string{}, pending: map[string]bool{}}
	for _, c := range p.VRRP {
		if c.Op != OpRemove {
			h.pending[c.Name] = true
		}
	}
	for _, in := range old.VRRP {
		if slices.ContainsFunc(p.VRRP, func(c VRRPChange) bool { return c.Op == OpRemove && c.Name == in.Name }) {
			continue
		}
		for _, v := range in.VIPs {
			h.by[v.Addr()] = in.Name
		}
	}
	return h
}

// refusal returns why c cannot be applied (nil when it can): a VIP it
// takes is still another instance's. The change is no longer pending
// then: the caller applies it (and calls applied) or refuses it.
func (h *vipHolders) refusal(c VRRPChange) error {
	delete(h.pending, c.Name)
	for _, a := range taken(c) {
		by, ok := h.by[a]
		if !ok || by == c.Name {
			continue
		}
		if h.pending[by] {
			return fmt.Errorf("%s is still a VIP of vrrp instance %s, which takes one of %s's in the same reload: VIPs swapped between instances cannot move in one reload (move them in steps: a VIP given up by one reload, taken by the next)", a, by, c.Name)
		}
		return fmt.Errorf("%s is still a VIP of vrrp instance %s: taking it too would put it on two instances (the next reload tries again)", a, by)
	}
	return nil
}

// refused records that c is refused for a reason of its own: its
// instance keeps the VIPs it holds, and is no longer pending.
func (h *vipHolders) refused(c VRRPChange) { delete(h.pending, c.Name) }

// applied records that c's instance holds its new VIPs.
func (h *vipHolders) applied(c VRRPChange) {
	if c.Op != OpAdd && !(c.Op == OpUpdate && c.VIPs) {
		return
	}
	maps.DeleteFunc(h.by, func(_ netip.Addr, by string) bool { return by == c.Name })
	for _, v := range c.New.VIPs {
		h.by[v.Addr()] = c.Name
	}
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
// the host (vipToMaster). The caller holds d.mu.
func takenByMaster(units map[string]*vrrpUnit, nc *config.Config, name string) func(netip.Addr) bool {
	return func(a netip.Addr) bool {
		return vipToMaster(nc, a, name, func(n string) bool {
			u := units[n]
			return u != nil && u.inst.Snapshot().State == vrrp.StateMaster
		})
	}
}

// vipToMaster reports whether VIP a is, in nc, a VIP of an instance other
// than name that master says runs and is MASTER now.
func vipToMaster(nc *config.Config, a netip.Addr, name string, master func(name string) bool) bool {
	for i := range nc.VRRP {
		in := &nc.VRRP[i]
		if in.Name != name && slices.ContainsFunc(in.VIPs, func(p netip.Prefix) bool { return p.Addr() == a }) && master(in.Name) {
			return true
		}
	}
	return false
}
