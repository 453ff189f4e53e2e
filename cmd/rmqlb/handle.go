package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
)

// handle answers the control socket.
//
//	status                               the whole state (control.Status)
//	backend LISTENER/BACKEND drain|maint|ready
//	                                     operator state of a backend
func (d *daemon) handle(ctx context.Context, req control.Request) (any, error) {
	switch req.Command {
	case "status":
		return d.status(), nil
	case "backend":
		if len(req.Args) != 2 {
			return nil, fmt.Errorf("usage: backend LISTENER/BACKEND drain|maint|ready")
		}
		return d.setAdmin(req.Args[0], req.Args[1])
	default:
		return nil, fmt.Errorf("unknown command %q", req.Command)
	}
}

func (d *daemon) status() control.Status {
	s := control.Status{
		Version: version,
		PID:     os.Getpid(),
		Started: d.started,
		Now:     time.Now(),
		Config:  d.path,
		VRRP:    []control.VRRP{},
	}
	d.mu.Lock()
	s.Reload = d.lastReload
	d.mu.Unlock()
	for _, u := range d.vrrp {
		v := control.VRRP{Snapshot: u.inst.Snapshot(), Addresses: u.vips.Snapshot()}
		if u.tracker != nil {
			v.Tracks = u.tracker.Snapshot()
		}
		s.VRRP = append(s.VRRP, v)
	}
	s.Listeners = []balancer.Snapshot{}
	for _, l := range d.traffic.listeners {
		s.Listeners = append(s.Listeners, l.Snapshot())
	}
	s.Checks = d.traffic.sched.Snapshot().Backends
	return s
}

// setAdmin puts a backend in DRAIN or MAINT, or back under its checks
// ("ready"). A backend without a check is set on the listener directly.
func (d *daemon) setAdmin(key, what string) (any, error) {
	id, err := backend.ParseID(key)
	if err != nil {
		return nil, err
	}
	l := d.traffic.byName[id.Listener]
	if l == nil {
		return nil, fmt.Errorf("no backend %q: write LISTENER/BACKEND", key)
	}
	a, err := backend.ParseAdmin(what)
	if err != nil {
		return nil, err
	}
	if _, checked := d.traffic.sched.State(id); checked {
		if err := d.traffic.sched.SetAdmin(id, a); err != nil {
			return nil, err
		}
	} else if err := l.SetBackendState(id.Name, a.Apply(backend.Up), "operator: "+what); err != nil {
		return nil, err
	}
	return map[string]string{"backend": key, "admin": what}, nil
}
