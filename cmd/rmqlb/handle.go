package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
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
	lname, bname, ok := strings.Cut(key, "/")
	l := d.traffic.byName[lname]
	if !ok || l == nil {
		return nil, fmt.Errorf("no backend %q: write LISTENER/BACKEND", key)
	}
	var a healthcheck.Admin
	var st balancer.BackendState
	switch what {
	case "drain":
		a, st = healthcheck.AdminDrain, balancer.Drain
	case "maint":
		a, st = healthcheck.AdminMaint, balancer.Maint
	case "ready":
		a, st = healthcheck.AdminNone, balancer.Up
	default:
		return nil, fmt.Errorf("backend state must be drain, maint or ready, not %q", what)
	}
	if _, checked := d.traffic.sched.State(key); checked {
		if err := d.traffic.sched.SetAdmin(key, a); err != nil {
			return nil, err
		}
	} else if err := l.SetBackendState(bname, st, "operator: "+what); err != nil {
		return nil, err
	}
	return map[string]string{"backend": key, "admin": what}, nil
}
