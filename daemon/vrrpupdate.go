package daemon

import (
	"fmt"
	"time"
)

// update gives the unit's instance and VIP set the settings of c.New
// while they run: the instance first (it refuses what only a restart can
// change, such as the interface), then the VIPs (which, held, are added,
// removed and announced at once). The instance applies its part at its
// next step; see vrrp.Instance.Update and netsetup.VIPSet.Update.
func (u *vrrpUnit) update(c VRRPChange) error {
	if c.Settings {
		if err := u.inst.Update(c.New.VRRPConfig()); err != nil {
			return err
		}
	}
	if c.VIPs {
		if err := u.vips.Update(c.New.VIPConfig()); err != nil {
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
