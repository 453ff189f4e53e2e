package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
)

// Handle answers the control socket:
//
//	status                                   the whole state (control.Status)
//	backend LISTENER/BACKEND drain|maint|ready
//	                                         the operator state of a backend
//	backend LISTENER/BACKEND weight N|reset  an operator's weight (control.BackendWeight)
//	backend LISTENER/BACKEND shutdown-sessions
//	                                         close its sessions now (control.SessionsClosed)
//	backend LISTENER/BACKEND move-sessions [RATE]
//	                                         drain it and move its clients (control.SessionMove)
//	rebalance LISTENER [RATE]                spread its sessions by weight again (control.Rebalance)
//	reload                                   reload the file (control.Reload)
//	reload dry-run                           what a reload would do, applying
//	                                         nothing (control.ReloadPlan)
//	sessions [KEY=VALUE...]                  the sessions of the listeners
//	                                         (control.SessionsRequest, control.Sessions)
//	shutdown-sessions KEY=VALUE...           close the sessions selected
//	                                         (control.SessionsShutdown)
//	clients [KEY=VALUE...]                   the client addresses of the listeners
//	                                         (control.ClientsRequest, control.Clients)
//	vrrp release NAME [DURATION] | vrrp ready NAME
//	                                         planned handover (handleVRRP)
//	notify NAME master|backup|fault|stop     run a hook once for a test (TestHook)
//	upgrade [BINARY]                         start BINARY to take over (Upgrade)
//	takeover, takeover-ready, takeover-abort [REASON]
//	                                         the new process's side of an
//	                                         upgrade (upgrade.go); only that
//	                                         process is answered
//
// It is the control.Handler of the daemon and safe for concurrent use.
func (d *Daemon) Handle(ctx context.Context, req control.Request) (any, error) {
	switch req.Command {
	case "status":
		return d.Status(), nil
	case "backend":
		return d.backendCommand(req.Args)
	case "reload":
		dry := len(req.Args) >= 1 && req.Args[0] == "dry-run"
		if len(req.Args) != 0 && !dry || len(req.Args) > 2 || len(req.Args) == 2 && !filepath.IsAbs(req.Args[1]) {
			return nil, fmt.Errorf("usage: reload [dry-run [ABSOLUTE-PATH]]")
		}
		if len(req.Args) == 2 && !control.PeerPrivileged(ctx) {
			return nil, errors.New("reload dry-run of another file: only root or the daemon's user may have the daemon read a file named to it (it reads it with its privileges); install the file and run rmqlb reload --dry-run")
		}
		select {
		case <-d.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("reloading: the daemon is still starting: %w", ctx.Err())
		}
		switch {
		case len(req.Args) == 2:
			return d.PlanReloadOf(req.Args[1]), nil
		case dry:
			return d.PlanReload(), nil
		}
		return d.Reload(), nil
	case "sessions":
		r, err := control.ParseSessionsRequest(req.Args)
		if err != nil {
			return nil, err
		}
		return d.Sessions(ctx, r)
	case "clients":
		r, err := control.ParseClientsRequest(req.Args)
		if err != nil {
			return nil, err
		}
		return d.Clients(r)
	case "shutdown-sessions":
		r, err := control.ParseSessionsRequest(req.Args)
		if err != nil {
			return nil, err
		}
		return d.ShutdownSessionsMatching(ctx, r)
	case "rebalance":
		return d.rebalanceCommand(req.Args)
	case "vrrp":
		return d.handleVRRP(ctx, req.Args)
	case "notify":
		if len(req.Args) != 2 {
			return nil, fmt.Errorf("usage: notify NAME master|backup|fault|stop")
		}
		return d.TestHook(ctx, req.Args[0], req.Args[1])
	case "upgrade":
		return d.handleUpgrade(ctx, req.Args)
	case "takeover":
		return d.offerTakeover(ctx)
	case "takeover-ready":
		return d.commitTakeover(ctx, req.Args)
	case "takeover-abort":
		return d.abortTakeover(ctx, req.Args)
	default:
		return nil, fmt.Errorf("unknown command %q", req.Command)
	}
}

// SetAdmin puts backend key ("LISTENER/BACKEND") in DRAIN or MAINT, or
// back under its checks ("ready"). A backend without a check is set on
// its listener directly.
func (d *Daemon) SetAdmin(key, what string) (control.BackendAdmin, error) {
	r, err := d.setAdmin(key, what, "")
	if err == nil {
		r.StateFileNote = stateFileNote(d.saveOpState())
	}
	return r, err
}

// setAdmin is SetAdmin without writing the state file, with a note on
// how the operator's state came for the reason of the state change
// (healthcheck.Machine.SetAdminNoted); "" for an operator's command.
func (d *Daemon) setAdmin(key, what, note string) (control.BackendAdmin, error) {
	id, err := backend.ParseID(key)
	if err != nil {
		return control.BackendAdmin{}, err
	}
	a, err := backend.ParseAdmin(what)
	if err != nil {
		return control.BackendAdmin{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cfg.Backend(id); !ok {
		return control.BackendAdmin{}, fmt.Errorf("no backend %s", id)
	}
	if _, checked := d.sched.State(id); checked {
		if err := d.sched.SetAdminNoted(id, a, note); err != nil {
			return control.BackendAdmin{}, err
		}
		st, _ := d.sched.State(id)
		return control.BackendAdmin{Backend: id, Admin: a, State: st}, nil
	}
	// Unchecked: its health is UP by definition.
	st := a.Apply(backend.Up)
	u := d.listeners[id.Listener]
	if u == nil {
		return control.BackendAdmin{}, fmt.Errorf("no backend %s", id)
	}
	prev := backend.AdminNone
	if b, ok := u.l.Snapshot().Backend(id.Name); ok {
		prev = uncheckedAdmin(b.State)
	}
	if err := u.l.SetBackendState(id.Name, st, backend.ChangeReason(prev, a, note)); err != nil {
		return control.BackendAdmin{}, err
	}
	return control.BackendAdmin{Backend: id, Admin: a, State: st}, nil
}
