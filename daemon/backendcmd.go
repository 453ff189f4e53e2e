package daemon

import (
	"errors"
	"fmt"
	"strconv"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/control"
)

// backendUsage is the syntax of the "backend" command.
const backendUsage = "usage: backend LISTENER/BACKEND drain|maint|ready|weight N|weight reset|shutdown-sessions|move-sessions [RATE]"

// backendCommand runs a "backend" command: args are LISTENER/BACKEND and
// the operation with its argument.
func (d *Daemon) backendCommand(args []string) (any, error) {
	if len(args) < 2 || len(args) > 3 {
		return nil, fmt.Errorf("%s", backendUsage)
	}
	switch op := args[1]; {
	case op == "weight" && len(args) == 3 && args[2] == "reset":
		return d.ResetWeight(args[0])
	case op == "weight" && len(args) == 3:
		w, err := strconv.Atoi(args[2])
		if err != nil {
			return nil, fmt.Errorf("parsing weight %q: want 0..%d or reset", args[2], balancer.MaxWeight)
		}
		return d.SetWeight(args[0], w)
	case op == "shutdown-sessions" && len(args) == 2:
		return d.ShutdownSessions(args[0])
	case op == "move-sessions":
		rate, err := parseRate(args[2:])
		if err != nil {
			return nil, err
		}
		return d.MoveSessions(args[0], rate)
	case len(args) == 2 && op != "weight":
		if _, err := backend.ParseAdmin(op); err != nil {
			return nil, fmt.Errorf("%w; %s", err, backendUsage)
		}
		return d.SetAdmin(args[0], op)
	}
	return nil, fmt.Errorf("%s", backendUsage)
}

// SetWeight gives backend key ("LISTENER/BACKEND") an operator's weight
// (0..balancer.MaxWeight; 0 drains it) in place of its configured one. The
// weight stays until ResetWeight, or until a reload changes that backend
// (any of its settings) or its listener's address; status shows it.
func (d *Daemon) SetWeight(key string, weight int) (control.BackendWeight, error) {
	return d.savedWeightCommand(d.setWeight(key, weight))
}

// setWeight is SetWeight without writing the state file.
func (d *Daemon) setWeight(key string, weight int) (control.BackendWeight, error) {
	return d.weightCommand(key, func(l *balancer.Listener, name string) error { return l.SetBackendWeight(name, weight) })
}

// ResetWeight drops the operator's weight of backend key: its configured
// weight applies again.
func (d *Daemon) ResetWeight(key string) (control.BackendWeight, error) {
	return d.savedWeightCommand(d.weightCommand(key, func(l *balancer.Listener, name string) error { return l.ResetBackendWeight(name) }))
}

// savedWeightCommand writes the state file after a weight command that
// succeeded, and passes its outcome on.
func (d *Daemon) savedWeightCommand(w control.BackendWeight, err error) (control.BackendWeight, error) {
	if err == nil {
		w.StateFileNote = stateFileNote(d.saveOpState())
	}
	return w, err
}

func (d *Daemon) weightCommand(key string, set func(*balancer.Listener, string) error) (control.BackendWeight, error) {
	id, l, err := d.backendListener(key, false)
	if err != nil {
		return control.BackendWeight{}, err
	}
	if err := set(l, id.Name); err != nil {
		return control.BackendWeight{}, err
	}
	b, ok := l.Snapshot().Backend(id.Name)
	if !ok {
		return control.BackendWeight{}, fmt.Errorf("no backend %s", id)
	}
	d.log.Info("operator set backend weight", zap.Stringer("backend", id), zap.Int("weight", b.Weight),
		zap.Int("configured_weight", b.ConfiguredWeight), zap.Bool("override", b.WeightOverride))
	return control.BackendWeight{Backend: id, Weight: b.Weight, Configured: b.ConfiguredWeight, Override: b.WeightOverride}, nil
}

// ShutdownSessions closes the current sessions of backend key now (see
// balancer.Listener.ShutdownSessions); the backend stays in service. A
// backend a reload removed while keeping its sessions (status lists it
// under its listener) is named by its old key.
func (d *Daemon) ShutdownSessions(key string) (control.SessionsClosed, error) {
	id, l, err := d.backendListener(key, true)
	if err != nil {
		return control.SessionsClosed{}, err
	}
	n, err := l.ShutdownSessions(id.Name)
	if errors.Is(err, balancer.ErrUnknownBackend) {
		return control.SessionsClosed{}, fmt.Errorf("no backend %s", id)
	}
	if err != nil {
		return control.SessionsClosed{}, err
	}
	d.log.Info("operator shut down backend sessions", zap.Stringer("backend", id), zap.Int("sessions", n))
	return control.SessionsClosed{Backend: id, Sessions: n}, nil
}

// backendListener parses key and returns the backend's ID and its running
// listener. With removed, a backend the configuration no longer has is
// returned with its listener too (the listener knows whether a reload
// kept sessions of it).
func (d *Daemon) backendListener(key string, removed bool) (backend.ID, *balancer.Listener, error) {
	id, err := backend.ParseID(key)
	if err != nil {
		return backend.ID{}, nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cfg.Backend(id); !ok && !removed {
		return backend.ID{}, nil, fmt.Errorf("no backend %s", id)
	}
	u := d.listeners[id.Listener]
	if u == nil {
		return backend.ID{}, nil, fmt.Errorf("no backend %s", id)
	}
	return id, u.l, nil
}
