package daemon

import (
	"errors"
	"net"
	"net/netip"
	"slices"

	"github.com/rmqlb/rmqlb/config"
)

// hostWarnings are the warnings of the file as last read that hold while
// the host lacks something: an interface of a VRRP instance (a bond or
// VLAN created later), an address a listener binds that is no VIP of the
// file (one that keepalived adds). The host may have it since, and then
// the warning would mislead: the instance runs on the interface, the
// listener receives its clients.
type hostWarnings struct {
	ifaces []config.MissingInterface
	binds  []config.MissingBind
}

// newHostWarnings returns the warnings among ws, cfg's, of interfaces and
// bind addresses the host lacked when the file was read.
func newHostWarnings(cfg *config.Config, ws []string) hostWarnings {
	notAmong := func(w string) bool { return !slices.Contains(ws, w) }
	return hostWarnings{
		ifaces: slices.DeleteFunc(cfg.MissingInterfaces(func(string) (*net.Interface, error) { return nil, errNoLookup }),
			func(m config.MissingInterface) bool { return notAmong(m.Warning) }),
		binds: slices.DeleteFunc(cfg.MissingBinds(nil),
			func(m config.MissingBind) bool { return notAmong(m.Warning) }),
	}
}

// errNoLookup is the error of a look-up that finds no interface.
var errNoLookup = errors.New("not looked up")

// resolved returns the warnings of w that no longer hold: of the
// interfaces lookup finds, and of the addresses among addrs (the host's),
// which is called only when w has a warning of an address. An address
// whose look-up fails is taken as still missing.
func (w hostWarnings) resolved(lookup func(string) (*net.Interface, error), addrs func() (map[netip.Addr]bool, error)) []string {
	var gone []string
	for _, m := range w.ifaces {
		if _, err := lookup(m.Interface); err == nil {
			gone = append(gone, m.Warning)
		}
	}
	if len(w.binds) == 0 {
		return gone
	}
	local, err := addrs()
	if err != nil {
		return gone
	}
	for _, m := range w.binds {
		if local[m.Addr] {
			gone = append(gone, m.Warning)
		}
	}
	return gone
}

// currentWarnings returns the warnings of the file as last read, without
// those that no longer hold (hostWarnings). It looks up only what the host
// lacked then (nothing, usually): call it without holding mu.
func (d *Daemon) currentWarnings() []string {
	d.mu.Lock()
	ws, hw, lookup, addrs := d.cfgWarnings, d.hostWarnings, d.lookupInterface, d.hostAddrs
	d.mu.Unlock()
	return liveWarnings(ws, hw.resolved(lookup, addrs))
}

// liveWarnings returns ws without those of gone. ws is not changed.
func liveWarnings(ws, gone []string) []string {
	if len(gone) == 0 {
		return ws
	}
	return slices.DeleteFunc(slices.Clone(ws), func(w string) bool { return slices.Contains(gone, w) })
}
