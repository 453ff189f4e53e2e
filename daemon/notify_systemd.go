package daemon

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	sdaemon "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/control"
)

// statusRefresh is how often the one-line status given to the service
// manager is computed again on the daemon's clock (and sent when it
// changed). A VRRP instance has no state-change event to subscribe to, so
// a failover shows in `systemctl status` within this period.
const statusRefresh = time.Second

// sdNotifier is the daemon's side of sd_notify(3): datagrams to the socket
// that $NOTIFY_SOCKET names, which systemd sets for a Type=notify unit.
// The daemon sends READY=1 once Run has started every part (Ready is
// closed), RELOADING=1 with MONOTONIC_USEC when a reload starts and
// READY=1 when it ends (applied or refused: the daemon runs on either
// way), STOPPING=1 when Run starts to stop, MAINPID= of the new process
// when an upgrade hands the service over to it, and a one-line STATUS=
// with each of them and whenever the line changes. Without $NOTIFY_SOCKET (the
// tests, the lab, a shell) nothing is sent and no goroutine runs.
//
// The zero value is ready to use. The Daemon's methods below are safe for
// concurrent use: messages go out one at a time, in the order of the
// calls, and nothing goes out after STOPPING=1 or MAINPID=.
type sdNotifier struct {
	mu       sync.Mutex
	stopping bool   // STOPPING=1 or MAINPID= was sent
	status   string // the last STATUS= line sent
	refresh  *part  // refreshes STATUS= once ready; nil without $NOTIFY_SOCKET
	// watchdog sends WATCHDOG=1 once ready (runWatchdog); nil without
	// $NOTIFY_SOCKET and $WATCHDOG_USEC for this process.
	watchdog *part
}

// sdEnabled reports whether a service manager asked for notifications.
func sdEnabled() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// sdSendLocked sends one notification; the caller holds d.sd.mu. A
// failure is logged at level, never fatal: the daemon serves the same
// with or without its service manager listening.
func (d *Daemon) sdSendLocked(msg string, level func(string, ...zap.Field)) {
	if d.sd.stopping {
		return
	}
	if _, err := sdaemon.SdNotify(false, msg); err != nil {
		level("notifying the service manager", zap.String("message", strings.ReplaceAll(msg, "\n", " ")), zap.Error(err))
	}
}

// notifyStatus sends STATUS=line when it differs from the last one sent.
func (d *Daemon) notifyStatus(line string) {
	if !sdEnabled() {
		return
	}
	d.sd.mu.Lock()
	defer d.sd.mu.Unlock()
	if line == d.sd.status {
		return
	}
	d.sdSendLocked("STATUS="+line, d.log.Debug)
	d.sd.status = line
}

// notifyStarted sends READY=1 with the status line, unless ctx (Run's
// stop) is done. Run calls it once every part has started.
func (d *Daemon) notifyStarted(ctx context.Context) {
	if ctx.Err() == nil {
		d.notifyReady()
	}
}

// notifyReady sends READY=1 with the status line, at the start and at the
// end of each reload, and starts refreshing the status line the first
// time.
func (d *Daemon) notifyReady() {
	if !sdEnabled() {
		return
	}
	line := statusLine(d.status(false))
	d.sd.mu.Lock()
	defer d.sd.mu.Unlock()
	d.sdSendLocked("READY=1\nSTATUS="+line, d.log.Warn)
	d.sd.status = line
	if d.sd.refresh == nil && !d.sd.stopping {
		d.sd.refresh = d.parts.start(d.runCtx, "service manager status", false, d.refreshStatus)
		if iv := d.watchdogInterval(); iv > 0 {
			d.sd.watchdog = d.parts.start(d.runCtx, "service manager watchdog", false, func(ctx context.Context) error {
				return d.runWatchdog(ctx, iv)
			})
		}
	}
}

// refreshStatus sends the status line every statusRefresh when it changed,
// until ctx is done.
func (d *Daemon) refreshStatus(ctx context.Context) error {
	return d.every(ctx, statusRefresh, func() { d.notifyStatus(statusLine(d.status(false))) })
}

// every runs f every period on the daemon's clock, the first time a
// period from now, until ctx is done; it returns nil then.
func (d *Daemon) every(ctx context.Context, period time.Duration, f func()) error {
	return d.everyFrom(ctx, period, period, f)
}

// everyFrom runs f first after first, then period after each run ended,
// on the daemon's clock, until ctx is done; it returns nil then.
func (d *Daemon) everyFrom(ctx context.Context, first, period time.Duration, f func()) error {
	t := d.clock.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			f()
			t.Reset(period)
		}
	}
}

// notifyReloading sends RELOADING=1 with MONOTONIC_USEC, the time of the
// reload on CLOCK_MONOTONIC (systemd 253 and later want it to tell this
// reload from an older one; 252 ignores it). The service manager's clock,
// not the daemon's injected one, is the reference: it is read here.
func (d *Daemon) notifyReloading() {
	if !sdEnabled() {
		return
	}
	var ts unix.Timespec
	msg := "RELOADING=1\n"
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		msg += fmt.Sprintf("MONOTONIC_USEC=%d\n", ts.Nano()/1000)
	}
	const line = "reloading the configuration"
	d.sd.mu.Lock()
	defer d.sd.mu.Unlock()
	d.sdSendLocked(msg+"STATUS="+line, d.log.Warn)
	d.sd.status = line
}

// notifyStopping sends STOPPING=1, after which nothing is sent, and stops
// the status refresher and the watchdog (whatever $NOTIFY_SOCKET says
// now: Run waits for them). Run calls it when it starts to stop.
func (d *Daemon) notifyStopping() {
	d.notifyLast("STOPPING=1\nSTATUS=stopping: VRRP first, then listeners")
}

// notifyHandedOver tells the service manager that the new process of an
// upgrade, pid, is the service's main process now (MAINPID=, accepted
// from the main process under NotifyAccess=main), after which this
// process sends nothing: the new one reports ready, reloading and
// stopping, and pings the watchdog. The status refresher and the
// watchdog stop.
func (d *Daemon) notifyHandedOver(pid int) {
	d.notifyLast(fmt.Sprintf("MAINPID=%d\nSTATUS=handed over to pid %d; finishing the sessions", pid, pid))
}

// notifyLast sends msg as the last notification of this process (when a
// service manager listens), then stops the status refresher and the
// watchdog and waits for them.
func (d *Daemon) notifyLast(msg string) {
	d.sd.mu.Lock()
	if sdEnabled() {
		d.sdSendLocked(msg, d.log.Warn)
	}
	d.sd.stopping = true
	parts := []*part{d.sd.refresh, d.sd.watchdog}
	d.sd.mu.Unlock()
	for _, p := range parts {
		if p != nil {
			p.stop()
		}
	}
}

// statusLine is the daemon's state in one line for the service manager,
// as `rmqlb status` gives it (control.Assess): the summary when healthy,
// for example "MASTER of 10.77.0.100 (rabbitmq); 3/3 backends up"; when
// degraded, the verdict's line, " | " and the summary.
func statusLine(s control.Status) string {
	v := control.Assess(s)
	line := v.Summary
	if v.Degraded {
		line = v.Line() + " | " + v.Summary
	}
	// One line: a name with a line break would end the assignment.
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(line)
}
