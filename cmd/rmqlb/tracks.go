package main

import (
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// wireTracks gives every VRRP instance with track rules a Tracker fed by
// the health-check scheduler; the tracker sets the instance's priority
// adjustment. Config validation has resolved every reference already.
func (d *daemon) wireTracks() {
	for _, u := range d.vrrp {
		if len(u.cfg.Track) == 0 {
			continue
		}
		u.tracker = healthcheck.NewTracker(u.inst.SetPriorityAdjust)
		for _, tr := range u.cfg.Track {
			var err error
			if tr.Listener != "" {
				var keys []backend.ID
				for _, l := range d.cfg.Listeners {
					if l.Name != tr.Listener {
						continue
					}
					for _, b := range l.Backends {
						keys = append(keys, checkKey(l.Name, b.Name))
					}
				}
				err = u.tracker.TrackNoneServing("listener "+tr.Listener, keys, tr.Weight)
			} else {
				li, bi, _ := d.cfg.FindBackend(tr.Check)
				l := d.cfg.Listeners[li]
				err = u.tracker.TrackBackend(checkKey(l.Name, l.Backends[bi].Name), tr.Weight)
			}
			if err != nil {
				d.log.Warn("ignoring track rule", zap.String("vrrp_instance", u.cfg.Name), zap.Error(err))
			}
		}
		u.inst.SetPriorityAdjust(u.tracker.Delta())
		d.traffic.sched.Subscribe(u.tracker.Handle)
	}
}
