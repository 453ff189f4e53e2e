package netlab

import "fmt"

// CutLink takes the switch end of the host's veth (its bridge port) down.
//
// The switch side is cut, not the host's eth0, because that is what pulling
// a cable or losing a switch port does: the host keeps its interface
// administratively up with all its addresses and routes, only its carrier
// goes away (a veth loses carrier when its peer is down), and its frames stop
// reaching anyone. Taking eth0 itself down would be an administrator's act on
// the host, which a daemon sees as a configuration change rather than a
// failure. The host's daemons stay running and may well keep believing they
// are master: the test sees what the rest of the network sees.
func (l *Lab) CutLink(h *Host) error {
	if err := ipCmd("-n", l.Switch, "link", "set", h.Port, "down"); err != nil {
		return fmt.Errorf("cutting link of %s: %w", h.Name, err)
	}
	return nil
}

// RestoreLink brings the host's bridge port back up. With STP off and a
// forward delay of 0 the port forwards at once.
func (l *Lab) RestoreLink(h *Host) error {
	if err := ipCmd("-n", l.Switch, "link", "set", h.Port, "up"); err != nil {
		return fmt.Errorf("restoring link of %s: %w", h.Name, err)
	}
	return nil
}

// Isolate keeps the host's carrier up but sets its bridge port to the
// "disabled" STP state, so the bridge drops every frame from and to the host:
// a partition that the host cannot see from its link state.
func (l *Lab) Isolate(h *Host) error {
	if err := bridgeCmd("-n", l.Switch, "link", "set", "dev", h.Port, "state", "0"); err != nil {
		return fmt.Errorf("isolating %s: %w", h.Name, err)
	}
	return nil
}

// Unisolate puts the host's bridge port back into the forwarding state.
func (l *Lab) Unisolate(h *Host) error {
	if err := bridgeCmd("-n", l.Switch, "link", "set", "dev", h.Port, "state", "3"); err != nil {
		return fmt.Errorf("unisolating %s: %w", h.Name, err)
	}
	return nil
}

// DeleteLink deletes the host's veth: its eth0 and its bridge port go, as
// a bond or VLAN that is removed, or not created yet at boot.
func (l *Lab) DeleteLink(h *Host) error {
	if err := ipCmd("-n", l.Switch, "link", "del", h.Port); err != nil {
		return fmt.Errorf("deleting the link of %s: %w", h.Name, err)
	}
	return nil
}

// CreateLink creates the host's veth: its eth0 (with the host's MAC) and
// its bridge port, both up, eth0 without an address (see AddAddr).
func (l *Lab) CreateLink(h *Host) error {
	steps := [][]string{
		{"-n", l.Switch, "link", "add", h.Port, "type", "veth", "peer", "name", Iface,
			"netns", h.NS, "address", h.MAC.String()},
		{"-n", l.Switch, "link", "set", h.Port, "master", "br0"},
		{"-n", l.Switch, "link", "set", h.Port, "up"},
		{"-n", h.NS, "link", "set", Iface, "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return fmt.Errorf("creating the link of %s: %w", h.Name, err)
		}
	}
	return nil
}

// AddAddr gives the host's eth0 its address.
func (l *Lab) AddAddr(h *Host) error {
	if err := ipCmd("-n", h.NS, "addr", "add", h.Prefix.String(), "dev", Iface); err != nil {
		return fmt.Errorf("adding the address of %s: %w", h.Name, err)
	}
	return nil
}
