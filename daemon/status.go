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
func (d *Daemon) Status() control.Status {
	files := openFiles()
	d.mu.Lock()
	defer d.mu.Unlock()
	s := control.Status{
		OpenFiles: files,
		Version:   d.opt.Version,
		PID:       os.Getpid(),
		Started:   d.started,
		Now:       d.clock.Now(),
		Config:    d.opt.Path,
		Reload:    d.lastReload,
		VRRP:      []control.VRRP{},
		Listeners: []balancer.Snapshot{},
	}
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
			s.Listeners = append(s.Listeners, u.l.SnapshotSticky(stickyListed))
		}
	}
	s.Checks = d.sched.Snapshot().Backends
	if s.Checks == nil {
		s.Checks = []healthcheck.BackendStatus{}
	}
	s.Verdict = control.Assess(s)
	return s
}
