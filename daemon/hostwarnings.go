package daemon

import "slices"

// currentWarnings returns the warnings of the file as last read, without
// those that no longer hold: of an interface or an address the host
// lacked when the file was read and has now (config.HostLacks.Resolved):
// the instance runs on the interface, the listener receives its clients,
// and the warning would mislead. It looks up only what the host lacked
// then (nothing, usually): call it without holding mu.
func (d *Daemon) currentWarnings() []string {
	d.mu.Lock()
	ws, lacks, lookup, addrs := d.cfgWarnings, d.hostLacks, d.lookupInterface, d.hostAddrs
	d.mu.Unlock()
	return liveWarnings(ws, lacks.Resolved(lookup, addrs))
}

// liveWarnings returns ws without those of gone. ws is not changed.
func liveWarnings(ws, gone []string) []string {
	if len(gone) == 0 {
		return ws
	}
	return slices.DeleteFunc(slices.Clone(ws), func(w string) bool { return slices.Contains(gone, w) })
}
