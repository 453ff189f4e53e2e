package daemon

import (
	"os"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// stickyListed is how many persistence entries of each listener status
// lists (balancer.Snapshot.Sticky); StickyEntries counts them all.
const stickyListed = 100

// Status returns a snapshot of every part, for `rmqlb status`, with the
// verdict of control.Assess.
func (d *Daemon) Status() control.Status { return d.status(true) }

// status is Status; without full, as the service manager's status line
// is refreshed every second, it leaves out what is costly to gather: the
// persistence entries (listing them walks each table under the lock new
// connections wait for), the open files (a read of /proc/self/fd, two
// entries a session) and the comparison of the configuration file, and
// of the files it names, with the running configuration (a stat of each,
// and a read of one that may have changed: fileWatch).
func (d *Daemon) status(full bool) control.Status {
	var files *control.OpenFiles
	var change *control.ConfigChange
	var warnings []string
	sticky := 0
	if full {
		files, sticky = openFiles(), stickyListed
		// Before d.mu is taken: reading the files and looking up the
		// interfaces must not hold up the daemon's other callers.
		change = d.configChange()
		warnings = d.currentWarnings()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := control.Status{
		ConfigChange: change,
		OpenFiles:    files,
		Version:      d.opt.Version,
		PID:          os.Getpid(),
		Started:      d.started,
		Now:          d.clock.Now(),
		Config:       d.opt.Path,
		Reload:       d.lastReload,
		// warnAbout replaces the slice, never its elements.
		ConfigWarnings: d.cfgWarnings,
		VRRP:           []control.VRRP{},
		Listeners:      []balancer.Snapshot{},
	}
	if full {
		// Without those of interfaces created since the file was read.
		s.ConfigWarnings = warnings
	}
	if e := d.stateFileErr; e != nil {
		c := *e
		s.StateFile = &c
	}
	if st := d.starting; st != nil {
		c := *st
		s.Starting = &c
	}
	if st := d.stopState; st != nil {
		c := *st
		s.Stopping = &c
	}
	s.Previous = d.previousLocked()
	for _, in := range d.cfg.VRRP {
		u := d.units[in.Name]
		if u == nil {
			continue
		}
		v := control.VRRP{Snapshot: u.inst.Snapshot(), Addresses: u.vips.Snapshot()}
		if u.tracker != nil {
			v.Tracks = u.tracker.Snapshot()
		}
		v.Notify = u.notifyStatus()
		s.VRRP = append(s.VRRP, v)
	}
	for _, l := range d.cfg.Listeners {
		if u := d.listeners[l.Name]; u != nil {
			s.Listeners = append(s.Listeners, u.l.SnapshotSticky(sticky))
			for _, f := range l.ListFiles() {
				s.ClientListFiles = append(s.ClientListFiles, control.ClientListFile{Listener: l.Name, Field: f.Key, Path: f.Path, Prefixes: f.Prefixes})
			}
		}
	}
	s.Moves = d.statusMovesLocked()
	s.Rebalances = d.statusRebalancesLocked()
	s.Checks = d.sched.Snapshot().Backends
	if s.Checks == nil {
		s.Checks = []healthcheck.BackendStatus{}
	}
	s.Verdict = control.Assess(s)
	return s
}
