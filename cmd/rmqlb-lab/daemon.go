package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/integration/netlab"
)

// daemon is the rmqlb process of one broker host. The lab owns its
// processes (netlab kills them on Close); a daemon is driven by the
// scenario's goroutine, while status may be called from any goroutine.
type daemon struct {
	host *netlab.Host
	bin  string
	conf string // configuration file
	sock string // control socket
	runs int
	proc *netlab.Proc
}

// newDaemon writes the host's configuration into dir and checks it with
// `rmqlb check-config`.
func newDaemon(h *netlab.Host, bin, dir, yaml string) (*daemon, error) {
	d := &daemon{host: h, bin: bin, conf: filepath.Join(dir, "rmqlb.yaml"), sock: filepath.Join(dir, "rmqlb.sock")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.WriteFile(d.conf, []byte(yaml), 0o644); err != nil {
		return nil, fmt.Errorf("writing config of %s: %w", h.Name, err)
	}
	if out, err := h.Run(bin, "check-config", "--config", d.conf); err != nil {
		return nil, fmt.Errorf("checking config of %s: %v\n%s", h.Name, err, out)
	}
	return d, nil
}

// start runs `rmqlb run --config` in the host's namespace and waits until
// its control socket answers.
func (d *daemon) start(ctx context.Context) error {
	d.runs++
	p, err := d.host.Start(fmt.Sprintf("rmqlb%d", d.runs), nil, d.bin, "run", "--config", d.conf)
	if err != nil {
		return err
	}
	d.proc = p
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := d.status(); err == nil {
			return nil
		} else if p.Exited() {
			return fmt.Errorf("rmqlb on %s exited at start: %v\n%s", d.host.Name, p.Wait(0), p.Tail(20))
		} else if time.Now().After(deadline) {
			return fmt.Errorf("rmqlb on %s: control socket not answering after 10s: %v\n%s", d.host.Name, err, p.Tail(20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// running reports whether the daemon's process is alive.
func (d *daemon) running() bool { return d.proc != nil && !d.proc.Exited() }

// terminate sends SIGTERM and returns at once.
func (d *daemon) terminate() error { return d.proc.Signal(syscall.SIGTERM) }

// pid is the process id of the current run.
func (d *daemon) pid() int { return d.proc.Pid() }

// statusView is the daemon's answer to "status" (control.Status, the type
// `rmqlb status` itself decodes) with the look-ups the lab makes.
type statusView struct{ control.Status }

// vrrpState returns the state, effective priority and reason of the
// (only) VRRP instance.
func (s *statusView) vrrpState() (state string, prio int, reason string) {
	if len(s.VRRP) == 0 {
		return "", 0, ""
	}
	v := s.VRRP[0]
	return v.State.String(), int(v.EffectivePriority), v.Reason
}

// check returns the state and reason of the check of backend name; false
// when the status lists no check of it.
func (s *statusView) check(name string) (state backend.State, reason string, ok bool) {
	for _, c := range s.Checks {
		if c.Backend == (backend.ID{Listener: listenerName, Name: name}) {
			reason = c.Reason
			// The reason is the state change's: a DOWN check says why
			// it went DOWN, the last failure why it still is.
			if c.State == backend.Down && c.LastError != "" && !strings.Contains(reason, c.LastError) {
				reason += "; last failure: " + c.LastError
			}
			return c.State, reason, true
		}
	}
	return 0, "", false
}

// checkIs reports whether the status lists the check of backend name in
// state want, and if not, what it lists instead.
func (s *statusView) checkIs(name string, want backend.State) (bool, string) {
	st, why, ok := s.check(name)
	switch {
	case !ok:
		return false, "not in the status"
	case st != want:
		return false, fmt.Sprintf("%v (%s)", st, why)
	}
	return true, ""
}

// backendActive returns the active sessions to backend name.
func (s *statusView) backendActive(name string) (int, bool) {
	for _, l := range s.Listeners {
		for _, b := range l.Backends {
			if b.Name == name {
				return b.Active, true
			}
		}
	}
	return 0, false
}

// backendTotal returns the sessions ever made to backend name.
func (s *statusView) backendTotal(name string) int {
	for _, l := range s.Listeners {
		for _, b := range l.Backends {
			if b.Name == name {
				return int(b.Total)
			}
		}
	}
	return 0
}

// status asks the daemon for its state over the control socket.
func (d *daemon) status() (*statusView, error) {
	var s statusView
	if err := control.Call(d.sock, control.Request{Command: "status"}, &s.Status, 2*time.Second); err != nil {
		return nil, fmt.Errorf("status of %s: %w", d.host.Name, err)
	}
	return &s, nil
}

// statusText runs `rmqlb status` in the host's namespace, as on-call would
// on that host, and returns what it prints.
func (d *daemon) statusText() string {
	out, err := d.host.Run(d.bin, "status", "--socket", d.sock)
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == control.ExitDegraded) {
		return fmt.Sprintf("%s(rmqlb status failed: %v)", out, err)
	}
	return string(out)
}
