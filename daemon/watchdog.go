package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	sdaemon "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// aliver is a running part that can hang without failing: an event loop
// that stops turning. Alive asks it to answer through its own loop and
// returns nil once it has, or an error saying what did not answer once
// ctx is done. A part that does not run answers nil at once.
// balancer.Listener, vrrp.Instance and healthcheck.Scheduler are alivers.
type aliver interface {
	Alive(ctx context.Context) error
}

// aliverFunc makes a function an aliver.
type aliverFunc func(context.Context) error

func (f aliverFunc) Alive(ctx context.Context) error { return f(ctx) }

// probeTarget is one part the watchdog asks to answer: key identifies it
// from one round to the next (its *part), name is what the log calls it.
type probeTarget struct {
	key  any
	name string
	a    aliver
}

// mainLoopKey is the probeTarget key of Run's main loop.
type mainLoopKey struct{}

// The watchdog: with WatchdogSec= in its unit, systemd passes the interval
// in $WATCHDOG_USEC and kills the service (SIGABRT: the Go runtime prints
// every goroutine's stack to the journal) when no WATCHDOG=1 came for
// that long. A ticker would keep pinging while the daemon hangs, so each
// ping attests that the daemon's loops turn: a round asks every part that
// can hang to answer through its own loop (aliver), and WATCHDOG=1 goes
// out only once all have. The parts asked are each listener (every event
// loop), each VRRP instance (Run's loop), the health checks (the
// scheduler's loop) and Run's main loop (it serves the stop and the
// reloads asked for by SIGHUP); each while it runs. None of the probes
// takes the model lock (Daemon.mu) or the reload lock: a reload in
// progress, which may hold them while it binds sockets or starts
// instances, does not delay an answer, except the main loop's while the
// main loop itself runs a reload (SIGHUP; `rmqlb reload`, systemctl's
// ExecReload, runs it on the control socket's goroutine). systemd's
// watchdog applies while the service starts up after READY=1, runs and
// reloads, and no longer once it stops (systemd.service(5): "activated
// when the start-up is completed"; the manager stops it when the unit
// leaves the running and reloading states).
//
// The times, for the interval W (30 s in the unit):
//
//   - A round starts at READY=1, then watchdogPeriod (W/4) after the
//     previous one ended: a daemon whose parts answer pings every W/4,
//     twice as often as sd_watchdog_enabled(3) recommends, so that a ping
//     lost to a host under load costs nothing.
//   - A round waits for every answer for up to W (after W without a ping
//     systemd has acted), and pings as soon as the last one came: a part
//     held up for a while does not lose the round, it delays it. So the
//     daemon is killed only when a part has not answered for W minus the
//     time since the last ping, that is for between 3W/4 and W: a part
//     stuck for most of WatchdogSec. A host that is merely loaded never
//     gets near: an event loop's turn is bounded (a few reads per
//     session), a garbage collection's pauses are well below a
//     millisecond, a VRRP instance's step does not wait for its VIP
//     owner (those calls run on their own goroutine), the check
//     scheduler does not wait for the checks; the longest bounded wait on
//     a probed loop is a reload run by the main loop (SIGHUP), whose own
//     waits (an owner call, 5 s; a removed VRRP instance's stop, 11 s)
//     stay well below W. A reload that holds the main loop longer than
//     that is taken for hung, which it then is.
//   - A part that has not answered after watchdogDeadline (W/4) is logged
//     at error level, once per episode, with what did not answer (an
//     event loop's number, say), and when it answers again; the round
//     waits on for it.
//
// WATCHDOG=1 goes out like the other notifications: not after STOPPING=1
// or MAINPID=, when the watchdog stops (notifyStopping,
// notifyHandedOver). The new process of an upgrade, named with MAINPID=,
// pings for itself: see watchdogInterval.
func watchdogTimes(interval time.Duration) (period, deadline time.Duration) {
	return interval / 4, interval / 4
}

// watchdogInterval returns the interval systemd's watchdog expects pings
// within, from $WATCHDOG_USEC, when it expects them from this process
// ($WATCHDOG_PID unset or this process's); 0 otherwise. The new process
// of an upgrade inherited $WATCHDOG_PID naming the process it took over
// from, whose service it now is (MAINPID=): it renames itself there
// first, so that it pings, and so that the process that succeeds it in
// turn finds its own pid.
func (d *Daemon) watchdogInterval() time.Duration {
	if tk := d.opt.Takeover; tk != nil && os.Getenv("WATCHDOG_PID") == strconv.Itoa(tk.PID()) {
		if err := os.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid())); err != nil {
			d.log.Warn("taking over the watchdog of the process this one succeeds", zap.Error(err))
		}
	}
	iv, err := sdaemon.SdWatchdogEnabled(false)
	if err != nil {
		d.log.Warn("the service manager's watchdog settings are not valid: not pinging it", zap.Error(err))
		return 0
	}
	return iv
}

// mainLoopAlive is the aliver of Run's main loop: it answers once the
// loop has received from d.alive.
func (d *Daemon) mainLoopAlive(ctx context.Context) error {
	select {
	case d.alive <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the main loop (stop, reloads on SIGHUP) did not answer: %w", context.Cause(ctx))
	}
}

// probeTargets are the parts the watchdog asks to answer now.
func (d *Daemon) probeTargets() []probeTarget {
	return append(d.parts.probes(), probeTarget{key: mainLoopKey{}, name: "main loop", a: aliverFunc(d.mainLoopAlive)})
}

// watchdog is runWatchdog's state, owned by its goroutine.
type watchdog struct {
	d                          *Daemon
	interval, period, deadline time.Duration
	// stuck are the parts that missed the deadline and have not answered
	// since, with when the round that found them started.
	stuck map[any]time.Time
}

// runWatchdog pings the service manager's watchdog (WATCHDOG=1) after
// each round in which every part answered, until ctx is done; see
// watchdogTimes. Its timers are on the daemon's clock.
func (d *Daemon) runWatchdog(ctx context.Context, interval time.Duration) error {
	w := &watchdog{d: d, interval: interval, stuck: map[any]time.Time{}}
	w.period, w.deadline = watchdogTimes(interval)
	d.log.Info("pinging the service manager's watchdog while the daemon's loops answer",
		zap.Duration("watchdog", interval), zap.Duration("every", w.period))
	return d.everyFrom(ctx, 0, w.period, func() {
		if w.round(ctx) {
			d.notifyWatchdog()
		}
	})
}

// round asks every part to answer and reports whether all did within the
// interval (false too when ctx is done first).
func (w *watchdog) round(ctx context.Context) bool {
	targets := w.d.probeTargets()
	start := w.d.clock.Now()
	rctx, cancel := clock.WithTimeout(ctx, w.d.clock, w.interval)
	defer cancel()
	first, cancelFirst := clock.WithTimeout(rctx, w.d.clock, w.deadline)
	defer cancelFirst()
	type answer struct {
		t     probeTarget
		err   error
		final bool // false: missed the deadline, still asked
	}
	// Room for every answer: a part that ignores its context may answer
	// after the round.
	answers := make(chan answer, 2*len(targets))
	for _, t := range targets {
		go func() {
			err := t.a.Alive(first)
			late := first.Err() != nil
			if err == nil || !late || rctx.Err() != nil {
				answers <- answer{t: t, err: err, final: true}
				return
			}
			answers <- answer{t: t, err: err}
			answers <- answer{t: t, err: t.a.Alive(rctx), final: true}
		}()
	}
	ok := true
	answered := make(map[any]bool, len(targets))
	for len(answered) < len(targets) {
		select {
		case a := <-answers:
			if !a.final {
				w.missed(a.t, a.err, start)
				continue
			}
			answered[a.t.key] = true
			if a.err != nil {
				ok = false
				w.missed(a.t, a.err, start)
				continue
			}
			w.answered(a.t)
		case <-rctx.Done():
			if ctx.Err() != nil {
				return false
			}
			for _, t := range targets {
				if !answered[t.key] {
					w.missed(t, errors.New("its probe did not return"), start)
				}
			}
			return false
		}
	}
	w.forgetGone(targets)
	return ok
}

// missed logs, once per episode, that t did not answer within the
// deadline (err says what did not).
func (w *watchdog) missed(t probeTarget, err error, since time.Time) {
	if _, ok := w.stuck[t.key]; ok {
		return
	}
	w.stuck[t.key] = since
	w.d.log.Error("watchdog: a part of the daemon does not answer; the service manager is not told the daemon is alive, and kills it if the part does not answer within the watchdog interval",
		zap.String("part", t.name), zap.Duration("within", w.deadline), zap.Duration("watchdog", w.interval), zap.Error(err))
}

// answered logs that t answers again after it missed the deadline.
func (w *watchdog) answered(t probeTarget) {
	since, ok := w.stuck[t.key]
	if !ok {
		return
	}
	delete(w.stuck, t.key)
	w.d.log.Warn("watchdog: the part answers again", zap.String("part", t.name), zap.Duration("after", w.d.clock.Now().Sub(since)))
}

// forgetGone forgets the stuck parts that no longer run.
func (w *watchdog) forgetGone(targets []probeTarget) {
	for key := range w.stuck {
		if !slices.ContainsFunc(targets, func(t probeTarget) bool { return t.key == key }) {
			delete(w.stuck, key)
		}
	}
}

// notifyWatchdog sends WATCHDOG=1, unless STOPPING=1 or MAINPID= was
// sent.
func (d *Daemon) notifyWatchdog() {
	d.sd.mu.Lock()
	defer d.sd.mu.Unlock()
	d.sdSendLocked("WATCHDOG=1", d.log.Debug)
}
