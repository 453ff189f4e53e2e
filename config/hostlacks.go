package config

import (
	"fmt"
	"net"
	"net/netip"
)

// HostLacks is what this host lacked when Load read the file, each with
// the warning of Config.Warnings that says so. The host may have it
// later (a bond or VLAN created after boot, a VIP that keepalived adds
// here), and then the warning no longer holds (see Resolved).
type HostLacks struct {
	// Interfaces are the interfaces of VRRP instances the host did not
	// have: the daemon runs each such instance in FAULT until its
	// interface exists.
	Interfaces []MissingInterface
	// Binds are the specific addresses listeners bind that were neither
	// the host's nor VIPs of the file: the listener binds one all the same
	// (IP_FREEBIND, as for a VIP not yet added) and receives nothing until
	// another program (keepalived) adds it, or for ever after a typo.
	Binds []MissingBind
}

// MissingInterface is the interface of a VRRP instance that the host
// lacked, with its warning.
type MissingInterface struct {
	Interface string
	Warning   string
}

// MissingBind is the bind address of a listener that was neither an
// address of the host nor a VIP of the file, with its warning.
type MissingBind struct {
	Addr    netip.Addr
	Warning string
}

// Warnings returns the warnings of h, those of its addresses first.
func (h HostLacks) Warnings() []string {
	var ws []string
	for _, m := range h.Binds {
		ws = append(ws, m.Warning)
	}
	for _, m := range h.Interfaces {
		ws = append(ws, m.Warning)
	}
	return ws
}

// Resolved returns the warnings of h that no longer hold: of the
// interfaces lookup finds, and of the addresses among addrs (the host's),
// which is called only when h has an address. An address whose look-up
// fails is taken as still missing. Each call looks up only what h holds
// (nothing, usually).
func (h HostLacks) Resolved(lookup func(string) (*net.Interface, error), addrs func() (map[netip.Addr]bool, error)) []string {
	var gone []string
	for _, m := range h.Interfaces {
		if _, err := lookup(m.Interface); err == nil {
			gone = append(gone, m.Warning)
		}
	}
	if len(h.Binds) == 0 {
		return gone
	}
	local, err := addrs()
	if err != nil {
		return gone
	}
	for _, m := range h.Binds {
		if local[m.Addr] {
			gone = append(gone, m.Warning)
		}
	}
	return gone
}

// missingBinds returns the bind addresses of the file's listeners that
// are specific addresses neither in local (this host's addresses) nor
// VIPs of the file, each with its warning.
func (c *Config) missingBinds(local map[netip.Addr]bool) []MissingBind {
	var ms []MissingBind
	for _, l := range c.Listeners {
		a := l.Bind.Addr().Unmap()
		if !a.IsValid() || a.IsUnspecified() || local[a] || c.VIPOwned(a) {
			continue
		}
		field := l.Field + ".bind"
		ms = append(ms, MissingBind{Addr: a, Warning: fmt.Sprintf(
			"%s (line %d): %s is neither an address of this host nor a VIP of this file: the listener binds it but receives nothing until another program (keepalived) adds it here",
			field, c.Line(field), a)})
	}
	return ms
}

// missingInterfaces returns the interfaces of the file's VRRP instances
// that lookup does not find, each with its warning.
func (c *Config) missingInterfaces(lookup func(string) (*net.Interface, error)) []MissingInterface {
	var ms []MissingInterface
	for _, in := range c.VRRP {
		if _, err := lookup(in.Interface); err != nil {
			field := in.Field + ".interface"
			ms = append(ms, MissingInterface{Interface: in.Interface, Warning: fmt.Sprintf(
				"%s (line %d): this host has no interface %q: the instance waits in FAULT until it exists (a bond or VLAN created later)",
				field, c.Line(field), in.Interface)})
		}
	}
	return ms
}

// HostAddrs returns the addresses of this host's interfaces (of the
// network namespace the process runs in).
func HostAddrs() (map[netip.Addr]bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing the host's addresses: %w", err)
	}
	out := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out[ip.Unmap()] = true
			}
		}
	}
	return out, nil
}
