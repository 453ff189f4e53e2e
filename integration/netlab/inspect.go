package netlab

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Neighbour is one entry of a host's neighbour (ARP) table.
type Neighbour struct {
	Addr  netip.Addr
	MAC   net.HardwareAddr // nil while unresolved
	State []string         // for example ["REACHABLE"], ["STALE"], ["FAILED"]
}

var nudNames = []struct {
	bit  int
	name string
}{
	{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"},
	{netlink.NUD_STALE, "STALE"}, {netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"},
	{netlink.NUD_FAILED, "FAILED"}, {netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"},
}

// nl returns the host's netlink handle (made on first use, closed by the
// lab) and its eth0, with the handle's lock held; call the returned unlock.
// Reading through netlink instead of running ip(8) keeps polling loops
// cheap on a small machine.
func (h *Host) nl() (*netlink.Handle, netlink.Link, func(), error) {
	h.nlMu.Lock()
	if h.nlh == nil {
		ns, err := netns.GetFromName(h.NS)
		if err != nil {
			h.nlMu.Unlock()
			return nil, nil, nil, fmt.Errorf("opening netns of %s: %w", h.Name, err)
		}
		nh, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
		ns.Close()
		if err != nil {
			h.nlMu.Unlock()
			return nil, nil, nil, fmt.Errorf("opening netlink in %s: %w", h.Name, err)
		}
		h.nlh = nh
	}
	link, err := h.nlh.LinkByName(Iface)
	if err != nil {
		h.nlMu.Unlock()
		return nil, nil, nil, fmt.Errorf("finding %s of %s: %w", Iface, h.Name, err)
	}
	return h.nlh, link, h.nlMu.Unlock, nil
}

func (h *Host) closeNL() {
	h.nlMu.Lock()
	defer h.nlMu.Unlock()
	if h.nlh != nil {
		h.nlh.Close()
		h.nlh = nil
	}
}

// Neighbours returns the host's IPv4 neighbour table on eth0.
func (h *Host) Neighbours() ([]Neighbour, error) {
	nh, link, unlock, err := h.nl()
	if err != nil {
		return nil, err
	}
	defer unlock()
	list, err := nh.NeighList(link.Attrs().Index, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("reading neighbours of %s: %w", h.Name, err)
	}
	var ns []Neighbour
	for _, n := range list {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		nb := Neighbour{Addr: a.Unmap()}
		if len(n.HardwareAddr) > 0 {
			nb.MAC = n.HardwareAddr
		}
		for _, s := range nudNames {
			if n.State&s.bit != 0 {
				nb.State = append(nb.State, s.name)
			}
		}
		ns = append(ns, nb)
	}
	return ns, nil
}

// Neighbour returns the host's neighbour entry for a, and false if it has none.
func (h *Host) Neighbour(a netip.Addr) (Neighbour, bool, error) {
	ns, err := h.Neighbours()
	if err != nil {
		return Neighbour{}, false, err
	}
	for _, n := range ns {
		if n.Addr == a {
			return n, true, nil
		}
	}
	return Neighbour{}, false, nil
}

// Addr is an IPv4 address on a host's interface.
type Addr struct {
	Prefix netip.Prefix
	Label  string
}

// Addrs returns the IPv4 addresses on the host's eth0.
func (h *Host) Addrs() ([]Addr, error) {
	nh, link, unlock, err := h.nl()
	if err != nil {
		return nil, err
	}
	defer unlock()
	list, err := nh.AddrList(link, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("reading addresses of %s: %w", h.Name, err)
	}
	var as []Addr
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		as = append(as, Addr{Prefix: netip.PrefixFrom(ip.Unmap(), ones), Label: a.Label})
	}
	return as, nil
}

// HasAddr reports whether a is an address of the host's eth0.
func (h *Host) HasAddr(a netip.Addr) (bool, error) {
	as, err := h.Addrs()
	if err != nil {
		return false, err
	}
	for _, x := range as {
		if x.Prefix.Addr() == a {
			return true, nil
		}
	}
	return false, nil
}

// Holders returns the hosts that have a on their eth0 now.
func (l *Lab) Holders(a netip.Addr) ([]*Host, error) {
	var hs []*Host
	for _, h := range l.hosts {
		ok, err := h.HasAddr(a)
		if err != nil {
			return nil, err
		}
		if ok {
			hs = append(hs, h)
		}
	}
	return hs, nil
}

// HostNames returns the names of hs, for messages.
func HostNames(hs []*Host) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.Name)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func bridgeCmd(args ...string) error {
	out, err := exec.Command("bridge", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("running bridge %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
