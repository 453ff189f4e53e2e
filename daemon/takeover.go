package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/vrrp"
)

// The upgrade in place, the new process's side (see upgrade.go for the
// running daemon's): TakeOver fetches the running daemon's sockets and
// state before New, New seeds the health checks, the operator's states and
// weights and the persistence entries from them and gives the listeners
// their sockets, and Run starts on the sockets, says it is ready, learns
// the VRRP instances' states and carries them on: a MASTER goes on
// advertising without the master down wait.

// takeoverCallTimeout bounds each request of the take-over: longer than
// the running daemon's own bound on "takeover-ready"
// (takeoverCommitTimeout), so that its answer is never lost to this
// side's impatience.
const takeoverCallTimeout = takeoverCommitTimeout + 10*time.Second

// predecessorPoll is how often a process waiting for the answer to
// "takeover-ready" looks whether the running daemon still lives.
const predecessorPoll = 50 * time.Millisecond

// Takeover is what a running daemon hands to the process that takes over
// from it: its sockets, as open files, and its state. TakeOver returns it;
// Options.Takeover gives it to New and Run, which use it once. A Takeover
// is not safe for concurrent use.
type Takeover struct {
	socket string
	offer  takeoverOffer
	files  []*os.File // by index of the offer; nil once taken
	// fetched is when the offer came, on the real clock: the pins'
	// remaining times count from it.
	fetched time.Time
	// gone reports whether the running daemon has exited (killed): the
	// control socket's listening file is this process's too once handed
	// over, so a request to a dead daemon is queued there and never
	// answered, and only its pid tells.
	gone func() bool
}

// TakeOver asks the daemon on the control socket at socket (the running
// daemon's, which `rmqlb upgrade` passes to the new process) for its
// sockets and state. That daemon answers only the process it started for
// the upgrade (the peer's pid says which). The control socket stays where
// it is: a configuration whose control_socket differs is refused, as is a
// hand-over in a protocol this program does not speak; the running daemon
// is told why. On error nothing was taken.
func TakeOver(cfg *config.Config, socket string) (*Takeover, error) {
	t := &Takeover{socket: socket}
	files, err := control.CallWithFiles(socket, control.Request{Command: "takeover"}, &t.offer, takeoverCallTimeout)
	if err != nil {
		return nil, fmt.Errorf("taking over from the running daemon: %w", err)
	}
	t.files, t.fetched = files, time.Now()
	t.gone = processGone(t.offer.PID)
	valid := func(i int) bool { return i >= 0 && i < len(files) }
	ok := valid(t.offer.Lock) && valid(t.offer.Control)
	if t.offer.Metrics != nil {
		ok = ok && valid(t.offer.Metrics.File)
	}
	for _, l := range t.offer.Listeners {
		ok = ok && valid(l.File)
	}
	if t.offer.Report != nil {
		ok = ok && valid(*t.offer.Report)
	}
	switch {
	case t.offer.Protocol != takeoverProtocol:
		err = fmt.Errorf("the running daemon hands over in protocol %d, this program speaks %d: restart instead", t.offer.Protocol, takeoverProtocol)
	case !ok:
		err = errors.New("the running daemon's answer names files it did not send")
	case cfg.ControlSocket != socket:
		err = fmt.Errorf("control_socket is %s in the file, the running daemon serves %s: an upgrade keeps the socket; move it with a reload of the running daemon first", cfg.ControlSocket, socket)
	}
	if err != nil {
		t.Abort(err)
		return nil, fmt.Errorf("taking over from the running daemon: %w", err)
	}
	return t, nil
}

// AbortTakeOver tells the daemon on the control socket at socket that the
// process it started for an upgrade gives up before taking anything over
// (its configuration does not load), and why.
func AbortTakeOver(socket string, reason error) {
	(&Takeover{socket: socket}).Abort(reason)
}

// PID is the running daemon's process id.
func (t *Takeover) PID() int { return t.offer.PID }

// take returns file i and forgets it: the caller owns it.
func (t *Takeover) take(i int) *os.File {
	f := t.files[i]
	t.files[i] = nil
	return f
}

// close closes the files not taken.
func (t *Takeover) close() {
	closeFiles(t.files)
	clear(t.files)
}

// Abort tells the running daemon that this process gives up, and why,
// and closes the files not taken: the running daemon serves on and
// reports the reason to `rmqlb upgrade`. Safe on a nil Takeover.
func (t *Takeover) Abort(reason error) {
	if t == nil {
		return
	}
	t.close()
	// Best effort: the running daemon also learns of the failure when
	// this process exits.
	_ = control.Call(t.socket, control.Request{Command: "takeover-abort", Args: []string{reason.Error()}}, nil, takeoverCallTimeout)
}

// lockFile returns the handed-over single-instance lock, with this
// process's pid written into it once it has taken over (writePID).
func (t *Takeover) lockFile() *instanceLock {
	return &instanceLock{f: t.take(t.offer.Lock)}
}

// writePID writes this process's pid into the lock file, as takeLock does.
func (l *instanceLock) writePID() {
	if err := l.f.Truncate(0); err == nil {
		_, _ = l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
}

// listenerFD returns the handed-over socket of listener l, matched by
// name and configured address, as a descriptor the caller owns; -1 when
// there is none (the listener is new: it binds its own).
func (t *Takeover) listenerFD(l *config.Listener) (int, error) {
	for _, s := range t.offer.Listeners {
		if s.Name != l.Name || s.Bind != l.Bind.String() || t.files[s.File] == nil {
			continue
		}
		f := t.take(s.File)
		defer f.Close()
		fd, err := dupFile(f)
		if err != nil {
			return -1, fmt.Errorf("taking over the socket of listener %q: %w", l.Name, err)
		}
		return fd, nil
	}
	return -1, nil
}

// metricsFile returns the handed-over metrics socket when it listens on
// addr, nil otherwise (and without a Takeover).
func (t *Takeover) metricsFile(addr netip.AddrPort) *os.File {
	if t == nil {
		return nil
	}
	m := t.offer.Metrics
	if m == nil || m.Bind != addr.String() || t.files[m.File] == nil {
		return nil
	}
	return t.take(m.File)
}

// backend returns what the running daemon knew of backend id.
func (t *Takeover) backend(id backend.ID) (handedBackend, bool) {
	for _, b := range t.offer.Backends {
		if b.ID == id {
			return b, true
		}
	}
	return handedBackend{}, false
}

// pins returns listener name's persistence entries, their remaining
// times shortened by the time since they were handed over.
func (t *Takeover) pins(name string) []balancer.Pin {
	gone := time.Since(t.fetched)
	for _, hp := range t.offer.Pins {
		if hp.Listener != name {
			continue
		}
		out := make([]balancer.Pin, 0, len(hp.Pins))
		for _, p := range hp.Pins {
			p.Remaining -= gone
			if p.Remaining > 0 {
				out = append(out, p)
			}
		}
		return out
	}
	return nil
}

// sinceHanded returns the ages ago, as the running daemon handed them over,
// lengthened by the time since they were.
func (t *Takeover) sinceHanded(ago []time.Duration) []time.Duration {
	if len(ago) == 0 {
		return nil
	}
	gone := time.Since(t.fetched)
	out := make([]time.Duration, len(ago))
	for i, a := range ago {
		out[i] = a + gone
	}
	return out
}

// ready tells the running daemon that this process serves, with args:
// this program's version, then what it does with each of the running
// daemon's VRRP instances (routerFates). The daemon stops and answers
// with its VRRP instances' states. A refusal is an error; so is a
// lost answer (the running daemon went away, or is stopping), and the
// running daemon's exit while this process waits for the answer ends the
// wait at once (ErrPredecessorGone): nobody would answer.
func (t *Takeover) ready(args []string) (takeoverRelease, error) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if t.gone != nil {
		watched := make(chan struct{})
		defer func() { cancel(nil); <-watched }()
		// Owned by this call: it ends when the call does.
		go func() {
			defer close(watched)
			tick := time.NewTicker(predecessorPoll)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if t.gone() {
						cancel(errPredecessorGone)
						return
					}
				}
			}
		}()
	}
	var rel takeoverRelease
	err := control.CallContext(ctx, t.socket, control.Request{Command: "takeover-ready", Args: args}, &rel, takeoverCallTimeout)
	if err != nil && errors.Is(context.Cause(ctx), errPredecessorGone) {
		// Sent or not, nobody serves on: this process starts afresh.
		err = fmt.Errorf("waiting for the answer to takeover-ready: %w", errPredecessorGone)
	}
	return rel, err
}

// errPredecessorGone is the error of a "takeover-ready" whose running
// daemon exited before it answered.
var errPredecessorGone = errors.New("the running daemon exited before it answered")

// processGone returns a report of whether process pid has exited: the
// parent of this process's while it is (the running daemon started this
// one), any process by its pid otherwise.
func processGone(pid int) func() bool {
	if os.Getppid() == pid {
		return func() bool { return os.Getppid() != pid }
	}
	return func() bool { return errors.Is(unix.Kill(pid, 0), unix.ESRCH) }
}

// vrrpState returns the state of instance in at the hand-over, when the
// running daemon had the same virtual router (name, interface, VRID and
// version).
func (rel takeoverRelease) vrrpState(in *config.VRRPInstance) (handedVRRP, bool) {
	for _, v := range rel.VRRP {
		if v.sameRouter(in) {
			return v, true
		}
	}
	return handedVRRP{}, false
}

// carryOn prepares instance inst for Run from its state at the hand-over:
// a MASTER adopts (advertises on at once, the VIPs on the interface), a
// BACKUP carries on as BACKUP. An instance the running daemon shut down
// (INIT: one in FAULT, or a released MASTER, which hands its VIPs over as
// it stops) starts afresh. A release goes on in every state, for what is
// left of it, with its start and reason. The VIP owner of a MASTER learns
// that the VIPs are its own (heldAdopter): the ones that carry no marker
// could not be told from someone else's. The instance's recent state
// changes go on counting (vrrp.Instance.CarryTransitions), its state
// keeps its since and reason, and a BACKUP goes on from the master it
// heard (vrrp.Adoption).
// It is called before u starts, at now, with the daemon's mu held.
func (v handedVRRP) carryOn(u *vrrpUnit, now time.Time) error {
	if v.Released {
		r := opRelease{handedVRRPInfo: v.handedVRRPInfo, Since: v.ReleasedSince, Reason: v.ReleaseReason}
		if r.Since.IsZero() { // from a process that did not hand it over
			r.Since = now
		}
		if v.ReleasedFor > 0 {
			r.Until = now.Add(v.ReleasedFor)
		}
		u.resumeRelease(r, v.ReleasedFor)
	}
	inst, vips := u.inst, u.vips
	if len(v.Transitions) > 0 {
		ts := make([]vrrp.Transition, len(v.Transitions))
		for i, c := range v.Transitions {
			ts[i] = vrrp.Transition{At: now.Add(-c.Ago), From: c.From, To: c.To, Reason: c.Reason}
		}
		if err := inst.CarryTransitions(ts); err != nil {
			return err
		}
	}
	if v.State != vrrp.StateMaster && v.State != vrrp.StateBackup {
		return nil
	}
	if a, ok := vips.(heldAdopter); ok && v.State == vrrp.StateMaster {
		owned := v.Owned
		if owned == nil {
			owned = v.VIPs
		}
		a.AdoptHeld(owned)
	}
	a := vrrp.Adoption{State: v.State}
	if v.StateFor > 0 {
		a.Since, a.Reason = now.Add(-v.StateFor), v.StateReason
	}
	if m := v.Master; m != nil {
		a.Master = &vrrp.MasterInfo{Addr: m.Addr, Priority: m.Priority, AdvertInterval: m.AdvertInterval, Heard: now.Add(-m.Ago)}
	}
	return inst.Adopt(a)
}

// heldAdopter is a VIP owner told which VIPs on the interface the
// process it succeeds had added (netsetup.VIPSet.AdoptHeld).
type heldAdopter interface{ AdoptHeld(owned []netip.Prefix) }

// carryOnListener gives listener u what the running daemon hands over:
// its listening socket, its backends' check states, operator states and
// weights, and its persistence entries. A backend the running daemon did
// not have starts as in a fresh start.
func (d *Daemon) carryOnListener(u *listenerUnit, t *Takeover) error {
	fd, err := t.listenerFD(u.cfg)
	if err != nil {
		return err
	}
	if fd >= 0 {
		if err := u.l.Inherit(fd); err != nil {
			unix.Close(fd)
			return err
		}
		u.handed = true
	}
	for i := range u.cfg.Backends {
		b := &u.cfg.Backends[i]
		hb, ok := t.backend(b.ID)
		switch {
		case !ok:
			if err := d.addCheck(b, false); err != nil {
				return err
			}
			continue
		case b.Check.Type == config.CheckNone:
			if hb.Admin != backend.AdminNone {
				st := hb.Admin.Apply(backend.Up)
				if err := u.l.SetBackendState(b.ID.Name, st, backend.ChangeReason(backend.AdminNone, hb.Admin, "handed over")); err != nil {
					return err
				}
			}
		case hb.Checked:
			c, err := d.opt.NewChecker(b)
			if err != nil {
				return err
			}
			in := healthcheck.Inherited{Health: hb.Health, Reason: hb.Reason, Admin: hb.Admin, Downs: hb.Downs, DownsAgo: t.sinceHanded(hb.DownsAgo), Full: hb.Full}
			if err := d.sched.AddInherited(b.ID, b.Check.Schedule, c, in); err != nil {
				return fmt.Errorf("setting up the check of %s: %w", b.ID, err)
			}
			// The listener knows at once, before it accepts: the
			// checks publish their state only once they run.
			if err := u.l.SetBackendState(b.ID.Name, hb.Admin.Apply(hb.Health), hb.Reason); err != nil {
				return err
			}
			if err := u.l.SetBackendFull(b.ID.Name, hb.Full); err != nil {
				return err
			}
		default: // checked here, not there: checked afresh
			if err := d.addCheck(b, false); err != nil {
				return err
			}
		}
		if hb.Weight != nil {
			if err := u.l.SetBackendWeight(b.ID.Name, *hb.Weight); err != nil {
				return err
			}
		}
	}
	if pins := t.pins(u.cfg.Name); len(pins) > 0 {
		n := u.l.AddPins(pins)
		d.log.Info("carried on persistence entries", zap.String("listener", u.cfg.Name), zap.Int("entries", n))
	}
	return nil
}

// dupFile returns a close-on-exec duplicate of f's descriptor. Not
// f.Fd(): that would put the socket in blocking mode, and its open file
// description is shared with the process that handed it over.
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(raw uintptr) { fd, derr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
}

// bindListeners binds the listeners that did not come with a socket (new
// or moved in this process's file): a bind error gives the take-over up
// before the running daemon has stopped anything.
func (d *Daemon) bindListeners(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, name := range listenerOrder(cfg) {
		if u := d.listeners[name]; !u.handed {
			if err := u.l.Listen(); err != nil {
				return err
			}
		}
	}
	return nil
}

// closeUnserved closes the listening sockets of listeners that never ran
// (a take-over given up): the running daemon serves on with its own.
func (d *Daemon) closeUnserved() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.listeners {
		if u.part == nil {
			u.l.CloseUnserved()
		}
	}
}

// handOverFrom completes the take-over once this process can serve: it
// waits until the health checks have published the states handed over
// (a tracker then sees them, not "not checked yet"), tells the running
// daemon it is ready, and returns the VRRP states it stopped in, after
// removing the VIPs of its masters that no instance here adopts. It fails,
// and the take-over is given up, when stop is done first, the running
// daemon refuses, or the request did not reach it. A lost answer (the
// running daemon went away once it had the request, or exited, killed,
// while this process waited) is no failure: the VRRP instances then start
// afresh, after the stale VIPs are removed as on a fresh start.
func (d *Daemon) handOverFrom(t *Takeover, stop context.Context) (takeoverRelease, error) {
	select {
	case <-d.sched.Published():
	case <-stop.Done():
	}
	if stop.Err() != nil {
		return takeoverRelease{}, errors.New("taking over: stopped before the hand-over")
	}
	var report *os.File
	if i := t.offer.Report; i != nil {
		report = t.take(*i)
	}
	t.close() // what this configuration has no use for
	rel, err := t.ready(append([]string{d.opt.Version}, routerFates(t.offer.VRRP, d.cfg)...))
	if err != nil && report != nil {
		report.Close()
	}
	var refused *control.RefusedError
	switch {
	case errors.As(err, &refused):
		return takeoverRelease{}, fmt.Errorf("taking over: the running daemon refused: %w", err)
	case errors.Is(err, control.ErrNotSent):
		// It never heard of this process being ready: it serves on and
		// holds its VIPs, which must not be removed under it.
		return takeoverRelease{}, fmt.Errorf("taking over: the running daemon was not reached: %w", err)
	case err != nil:
		d.log.Warn("taking over: no answer from the running daemon; starting VRRP afresh", zap.Error(err))
		if len(d.cfg.VRRP) > 0 {
			if err := d.removeStale(d.cfg); err != nil {
				d.log.Warn("removing stale VIPs", zap.Error(err))
			}
		}
		return takeoverRelease{}, nil
	}
	if left := rel.unadopted(d.cfg); len(left.VRRP) > 0 {
		d.log.Info("removing the VIPs of the running daemon that no instance here carries on", zap.Int("instances", len(left.VRRP)))
		if err := d.removeStale(left); err != nil {
			d.log.Warn("removing VIPs not carried on", zap.Error(err))
		}
	}
	rel.report = report
	return rel, nil
}

// unadopted returns, as a configuration to remove stale VIPs of, the VIPs
// that the masters of rel hold and that no instance of cfg adopts (the
// same virtual router with the same VIP).
func (rel takeoverRelease) unadopted(cfg *config.Config) *config.Config {
	left := &config.Config{}
	for _, v := range rel.VRRP {
		if v.State != vrrp.StateMaster {
			continue
		}
		var keep []netip.Prefix
		for i := range cfg.VRRP {
			if in := &cfg.VRRP[i]; v.sameRouter(in) {
				keep = in.VIPs
			}
		}
		var drop []netip.Prefix
		for _, p := range v.VIPs {
			if !slices.Contains(keep, p) {
				drop = append(drop, p)
			}
		}
		if len(drop) > 0 {
			left.VRRP = append(left.VRRP, config.VRRPInstance{Name: v.Name, Interface: v.Interface, VIPs: drop})
		}
	}
	return left
}
