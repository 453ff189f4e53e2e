package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
)

// newControlServer returns the control server of cfg (not yet listening).
func (d *Daemon) newControlServer(cfg *config.Config) *control.Server {
	return &control.Server{Path: cfg.ControlSocket, Group: cfg.ControlGroup, Handler: d.Handle, Logger: d.log,
		CommandTimeouts: map[string]time.Duration{"upgrade": upgradeCommandTimeout, "takeover-ready": takeoverCommitTimeout,
			"reload": ReloadCommandTimeout, "notify": NotifyCommandTimeout}}
}

// ReloadCommandTimeout bounds the "reload" command on the control socket:
// a reload waits for one in progress, stops the VRRP instances it removes
// (a master's priority 0) and restarts those a new vrrp_rt_priority or
// vrrp_sender needs, each bounded by its VIP owner's timeout. Removed and
// moved listeners drain in the background. rmqlb reload waits a little
// longer for the answer.
const ReloadCommandTimeout = 30 * time.Second

// moveControl moves the control socket to nc's control_socket, live: it
// takes the single-instance lock of the new socket (so that no other
// daemon runs with that socket, and no daemon started later with this
// file runs beside this one), listens on the new socket and serves it,
// then stops the old socket: no new connection is accepted there (its
// file is removed), the requests in flight on it (the reload that moves it,
// for one) are answered, and its lock is released once they are. When the
// new lock is held by another daemon or the new socket cannot be made,
// nothing changes and the error says why. The caller holds reloadMu.
func (d *Daemon) moveControl(nc *config.Config) error {
	lock, err := takeLock(LockPath(nc.ControlSocket))
	if err != nil {
		return err
	}
	srv := d.newControlServer(nc)
	ln, err := srv.Listen()
	if err != nil {
		lock.release()
		return fmt.Errorf("moving the control socket: %w", err)
	}
	lock.writePID()
	next := d.parts.start(d.runCtx, "control socket", true, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	d.mu.Lock()
	// d.cfg is the running model still: its socket is the old one.
	prevLock, prevPart, prevPath := d.lock, d.ctlPart, d.cfg.ControlSocket
	d.lock, d.ctlLn, d.ctl, d.ctlPart = lock, ln, srv, next
	d.mu.Unlock()
	if prevPart != nil {
		// Not prevPart.stop(): it waits for the requests in flight,
		// among them, on the old socket, the one reloading now.
		prevPart.cancel()
	}
	d.parts.start(d.runCtx, "old control socket", false, func(context.Context) error {
		if prevPart != nil {
			<-prevPart.done
		}
		// The record of the VIPs moves with the socket (the reload
		// writes it at the new path): removed while the old lock is
		// still held, so that no daemon started on the old path since
		// has written its own.
		if err := os.Remove(ScopePath(prevPath)); err != nil && !errors.Is(err, os.ErrNotExist) {
			d.log.Warn("removing the record of the VIPs at the control socket's old path", zap.Error(err))
		}
		prevLock.release()
		return nil
	})
	d.log.Info("moved the control socket", zap.String("control_socket", nc.ControlSocket))
	return nil
}
