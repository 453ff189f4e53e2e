package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/control"
)

// controlCheckEvery is how often, on the daemon's clock, the daemon looks
// whether its control socket and its single-instance lock file are still
// at their paths (watchControl).
const controlCheckEvery = time.Second

// The control socket and the lock file live in a directory others may
// clean while the daemon runs (systemd-tmpfiles, an operator's rm, a
// wiped /run). Without its socket file the daemon cannot be reached
// (rmqlb status, reload, upgrade); without its lock file a second daemon
// started on the host would take a fresh lock, bind a fresh socket and
// remove this one's VIPs; without the record of its VIPs beside them
// (ScopePath), rmqlb remove-stale after a crash has only the file, which
// may have changed since. So the daemon looks every controlCheckEvery and
// at each reload, and re-creates what is gone (restoreControl).

// watchControl looks at the control socket and the lock file every
// controlCheckEvery until ctx is done. Run starts it as a part once the
// control socket is served and stops it when it stops.
func (d *Daemon) watchControl(ctx context.Context) error {
	return d.every(ctx, controlCheckEvery, d.checkControl)
}

// checkControl is one look of watchControl. It is skipped while a reload
// runs (the reload looks itself) or an upgrade is under way (the sockets
// are being handed over), and once Run has begun to stop.
func (d *Daemon) checkControl() {
	if !d.reloadMu.TryLock() {
		return
	}
	defer d.reloadMu.Unlock()
	select {
	case <-d.stopping:
		return
	default:
	}
	if d.upgradePID() != 0 {
		return
	}
	d.restoreControlLocked(false)
}

// restoreControlLocked runs restoreControl and logs what it re-created,
// as a warning, and why it could not, as an error: at every call when
// always is set (a reload), otherwise only when the reason differs from
// the one logged last (the watcher looks every second). The caller holds
// reloadMu and has checked that Run does not stop and that no upgrade is
// under way.
func (d *Daemon) restoreControlLocked(always bool) {
	restored, err := d.restoreControl()
	if len(restored) > 0 {
		d.log.Warn("re-created the control socket's files, removed or replaced while the daemon ran (systemd-tmpfiles, an rm, a cleaned /run?)",
			zap.Strings("recreated", restored))
	}
	if err == nil {
		d.ctlTrouble = ""
		return
	}
	if always || err.Error() != d.ctlTrouble {
		if errors.Is(err, ErrLocked) || errors.Is(err, control.ErrAnswered) {
			d.log.Error("a second rmqlb daemon runs with this control socket: it took the lock file or the socket that replaced this daemon's; both may run the same VRRP instances: stop one of them",
				zap.Error(err))
		} else {
			d.log.Error("re-creating the control socket's files failed: the daemon cannot be reached over its socket until they are back; under the unit, whose /run is read-only to it, a removed directory cannot be made again: restart the service", zap.Error(err))
		}
	}
	d.ctlTrouble = err.Error()
}

// restoreControl looks whether the lock path still leads to the file
// whose lock the daemon holds and the control socket's path to the socket
// it serves, and re-creates each that does not, in a directory created
// again when it is missing: the lock first (so that no other daemon
// starts meanwhile), then the record of its VIPs, then the socket, served
// by the same server, while the old listener's part stops and answers its
// requests in flight. It returns what it re-created. When another process
// holds the new lock file (a second daemon), the record and the socket
// are left alone: that daemon places its own. A socket some live process
// answers on is never replaced. The caller holds reloadMu.
func (d *Daemon) restoreControl() ([]string, error) {
	d.mu.Lock()
	lock, ln, srv, served := d.lock, d.ctlLn, d.ctl, d.ctlPart
	d.mu.Unlock()
	if served == nil || lock == nil || lock.f == nil {
		return nil, nil
	}
	var restored []string
	dir := filepath.Dir(srv.Path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		restored = append(restored, "directory "+dir)
	}
	lockPath := LockPath(srv.Path)
	in, err := lock.inPlace(lockPath)
	if err != nil {
		return nil, err
	}
	if !in {
		next, err := takeLock(lockPath)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		d.lock = next
		d.mu.Unlock()
		lock.release()
		restored = append(restored, "lock file "+lockPath)
	}
	if _, err := os.Stat(ScopePath(srv.Path)); errors.Is(err, os.ErrNotExist) {
		d.mu.Lock()
		cfg := d.cfg
		d.mu.Unlock()
		d.writeScope(cfg)
		restored = append(restored, "record of the VIPs "+ScopePath(srv.Path))
	}
	if in, err = control.SocketInPlace(ln); err != nil || in {
		return restored, err
	}
	next, err := srv.Relisten(ln)
	if err != nil {
		return restored, fmt.Errorf("re-creating the control socket: %w", err)
	}
	p := d.parts.start(d.runCtx, "control socket", true, func(ctx context.Context) error { return srv.Serve(ctx, next) })
	d.mu.Lock()
	d.ctlLn, d.ctlPart = next, p
	d.mu.Unlock()
	// The old listener is closed, not its part cancelled: the requests
	// in flight there (a reload running this, an upgrade, a planned
	// release waiting to be applied) keep their context and are
	// answered; its Serve then returns and the part ends by itself.
	ln.Close()
	return append(restored, "control socket "+srv.Path), nil
}
