package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// The upgrade in place, the running daemon's side. `rmqlb upgrade` asks it
// (control command "upgrade") to start the new binary with --takeover. The
// new process asks, over the control socket, for the sockets ("takeover":
// the single-instance lock, the control socket, the metrics socket and
// every listening socket, passed as open files, with the backends' states),
// starts on them, and says when it is ready ("takeover-ready"). This
// daemon then stops accepting, stops its VRRP instances quietly (no
// priority 0: the VIPs stay on the interface), answers with their states
// so that the new process advertises on without a gap, hands the service
// manager's main pid over, and finishes its sessions, up to each
// listener's graceful_timeout, before it exits. Until "takeover-ready"
// nothing is given up: a new process that fails, gives up ("takeover-abort")
// or goes away leaves this daemon serving as it was.

// takeoverTimeout bounds how long the new process may take to take over.
const takeoverTimeout = 60 * time.Second

// maxHandedFiles bounds the sockets of one hand-over: the files of one
// control response.
const maxHandedFiles = 250

// takeoverProtocol is the version of the hand-over's messages: a new
// process that does not speak the running daemon's gives up.
const takeoverProtocol = 1

// takeoverCommitTimeout bounds the "takeover-ready" command: stopping the
// VRRP instances takes at most twice their VIP owner's timeout and a
// second (vrrp.Instance.Run); the new process waits longer
// (takeoverCallTimeout).
const takeoverCommitTimeout = 20 * time.Second

// killWait bounds the wait for a killed new process to exit.
const killWait = 5 * time.Second

// successorServeWait bounds how long, after the hand-over, this daemon
// waits for the new process to serve the control socket before it
// answers "upgrade" and exits: the new process serves within
// milliseconds of the answer to "takeover-ready" unless it died.
const successorServeWait = 5 * time.Second

// successorPoll is how often this daemon asks the control socket whether
// the new process serves it yet.
const successorPoll = 20 * time.Millisecond

// upgradeCommandTimeout bounds the "upgrade" command: the take-over and a
// margin to stop a new process that failed, or to see one that took over
// serve (successorServeWait).
const upgradeCommandTimeout = takeoverTimeout + 15*time.Second

// Successor is a process started to take over from this daemon.
type Successor interface {
	// Pid is its process id: the peer of its control requests.
	Pid() int
	// Wait waits for it to exit and returns how it ended.
	Wait() error
	// Kill ends it (an upgrade that failed).
	Kill() error
}

// execSuccessor is a Successor started with os/exec; it writes to this
// process's standard output and error (the journal under systemd), and
// inherits its environment ($NOTIFY_SOCKET included).
type execSuccessor struct{ cmd *exec.Cmd }

// startExecSuccessor starts binary with args as an execSuccessor.
func startExecSuccessor(binary string, args []string) (Successor, error) {
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	return execSuccessor{cmd}, nil
}

func (s execSuccessor) Pid() int    { return s.cmd.Process.Pid }
func (s execSuccessor) Wait() error { return s.cmd.Wait() }
func (s execSuccessor) Kill() error { return s.cmd.Process.Kill() }

// upgradePhase is how far an upgrade went.
type upgradePhase int

const (
	phaseStarted    upgradePhase = iota // the new process runs
	phaseOffered                        // it has the sockets
	phaseCommitting                     // it is ready: this daemon gives up its service
	phaseCommitted                      // done
	phaseFailed                         // given up: this daemon serves on
)

// upgradeRun is one upgrade in progress. Its phase moves forward only; the
// mutex guards phase and reason.
type upgradeRun struct {
	binary  string
	succ    Successor
	pid     int
	started time.Time
	exited  chan struct{} // closed when the new process has exited
	exitErr error         // how it exited; set before exited is closed
	done    chan control.Upgrade
	aborted chan struct{} // closed when the new process gave up (takeover-abort)
	watched chan struct{} // closed when watchSuccessor returns
	// settled is closed once, after the hand-over, the new process serves
	// the control socket, or has exited (diedServing set before), or
	// did neither within successorServeWait.
	settled     chan struct{}
	diedServing bool

	mu        sync.Mutex
	phase     upgradePhase
	reason    string // why the new process gave up, when it said so
	abortOnce sync.Once
	// report is this daemon's end of the channel over which it reports
	// the sessions it finishes (reportFinishing), from the offer on; nil
	// once handed to reportFinishing or closed.
	report net.Conn
}

// advance moves the upgrade from phase from to phase to, and reports
// whether it was in from.
func (u *upgradeRun) advance(from, to upgradePhase) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.phase != from {
		return false
	}
	u.phase = to
	return true
}

// takeReport returns the report channel's end and forgets it: the caller
// owns it.
func (u *upgradeRun) takeReport() net.Conn {
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.report
	u.report = nil
	return c
}

// fail marks the upgrade failed unless it is committing or committed; it
// reports whether it is failed now.
func (u *upgradeRun) fail() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.phase == phaseCommitting || u.phase == phaseCommitted {
		return false
	}
	u.phase = phaseFailed
	return true
}

// takeoverOffer is the answer to "takeover": what the new process takes
// over. Files are indexes into the files sent with it.
type takeoverOffer struct {
	Protocol  int              `json:"protocol"`
	PID       int              `json:"pid"`
	Version   string           `json:"version"`
	Lock      int              `json:"lock"`
	Control   int              `json:"control"`
	Metrics   *handedSocket    `json:"metrics,omitempty"`
	Listeners []handedSocket   `json:"listeners"`
	Backends  []handedBackend  `json:"backends"`
	Pins      []handedPins     `json:"pins,omitempty"`
	Now       time.Time        `json:"now"`
	VRRP      []handedVRRPInfo `json:"vrrp"`
	// Report is the file over which this daemon reports, after the
	// hand-over, the sessions it still finishes (reportFinishing); nil
	// from a process that does not.
	Report *int `json:"report,omitempty"`
}

// handedSocket is a listening socket: the listener's name (empty for
// metrics), its configured address and the index of its file.
type handedSocket struct {
	Name string `json:"name,omitempty"`
	Bind string `json:"bind"`
	File int    `json:"file"`
}

// handedBackend is a backend's state: for a checked one, what its checks
// found (Checked); for any, the operator's state and weight.
type handedBackend struct {
	ID      backend.ID    `json:"id"`
	Checked bool          `json:"checked"`
	Health  backend.State `json:"health"`
	Reason  string        `json:"reason,omitempty"`
	Admin   backend.Admin `json:"admin"`
	Weight  *int          `json:"weight,omitempty"` // the operator's weight, nil without
	// Downs and DownsAgo are the times its checks took it DOWN
	// (healthcheck.BackendStatus.Downs) and how long before Now the latest
	// of them were, oldest first: a backend that flaps still does in the
	// new process. Zero and nil from a process that did not hand them over.
	Downs    uint64          `json:"downs,omitempty"`
	DownsAgo []time.Duration `json:"downs_ago_ns,omitempty"`
	// Full is set when its checks found its broker at its own connection limit
	// (healthcheck.BackendStatus.Full): the new process gives it no new client until its
	// own checks say otherwise. False from a process that did not hand it over.
	Full bool `json:"full,omitempty"`
}

// handedPins are a listener's persistence entries.
type handedPins struct {
	Listener string         `json:"listener"`
	Pins     []balancer.Pin `json:"pins"`
}

// handedVRRPInfo names an instance of the running daemon, so that the new
// process can tell whether its own instance of that name is the same
// virtual router.
type handedVRRPInfo struct {
	Name      string `json:"name"`
	Interface string `json:"interface"`
	VRID      uint8  `json:"vrid"`
	Version   int    `json:"version"`
}

// routerOf is the virtual router of instance in.
func routerOf(in *config.VRRPInstance) handedVRRPInfo {
	return handedVRRPInfo{Name: in.Name, Interface: in.Interface, VRID: in.VRID, Version: in.Version}
}

// sameRouter reports whether in is the virtual router of h: the same name,
// interface, VRID and version.
func (h handedVRRPInfo) sameRouter(in *config.VRRPInstance) bool { return h == routerOf(in) }

// routerFates says what the new process, whose file is cfg, does with
// each virtual router the running daemon offered: "NAME=carried" (the same
// router: its state is carried on), "NAME=afresh" (the file changed the
// instance's interface, VRID or version: it starts afresh),
// "NAME=removed" (the file has no instance of that name). They follow
// the version in the arguments of "takeover-ready", so that the running
// daemon's answer to "upgrade" says what became of each instance; a
// process that predates them sends the version alone.
func routerFates(offered []handedVRRPInfo, cfg *config.Config) []string {
	var fates []string
	for _, r := range offered {
		fate := control.FateRemoved
		if in, ok := cfg.VRRPInstance(r.Name); ok {
			fate = control.FateAfresh
			if r.sameRouter(in) {
				fate = control.FateCarried
			}
		}
		fates = append(fates, r.Name+"="+fate)
	}
	return fates
}

// carriedOn reports whether the new process carries an instance of the
// fate (see routerFates) on: one of a process that predates fates ("")
// may be, so it is stopped quietly too.
func carriedOn(fate string) bool { return fate != control.FateAfresh && fate != control.FateRemoved }

// parseFates returns the fates of routerFates by instance name.
func parseFates(args []string) map[string]string {
	fates := map[string]string{}
	for _, a := range args {
		if name, fate, ok := strings.Cut(a, "="); ok {
			fates[name] = fate
		}
	}
	return fates
}

// takeoverRelease is the answer to "takeover-ready": the VRRP instances as
// this daemon stopped them.
type takeoverRelease struct {
	VRRP []handedVRRP `json:"vrrp"`
	// Finishing is what this daemon goes on with once it has handed over:
	// the sessions it finishes (nil: none), as the new process's status
	// shows it.
	Finishing *control.PreviousProcess `json:"finishing,omitempty"`
	// report is the new process's end of the channel over which the
	// running daemon reports the sessions it finishes; nil without one.
	// It is not part of the answer: the offer carried it.
	report *os.File
}

// handedVRRP is one instance's state at the hand-over.
type handedVRRP struct {
	handedVRRPInfo
	State vrrp.State `json:"state"`
	// VIPs are the instance's addresses, on the interface when State is
	// MASTER.
	VIPs []netip.Prefix `json:"vips"`
	// Owned are the VIPs its VIP owner had added: for the VIPs without a
	// marker its record is all that tells them from someone else's
	// (heldAdopter). Nil from a process that did not hand it over: then
	// VIPs stand for it.
	Owned []netip.Prefix `json:"owned"`
	// ReleasedFor is what is left of an operator's release with a
	// duration; Released without it lasts until `rmqlb vrrp ready`.
	// ReleasedSince and ReleaseReason are when it began and why (zero
	// and empty from a process that did not hand them over).
	Released      bool          `json:"released"`
	ReleasedFor   time.Duration `json:"released_for_ns,omitempty"`
	ReleasedSince time.Time     `json:"released_since,omitzero"`
	ReleaseReason string        `json:"release_reason,omitempty"`
	// Transitions are the instance's latest state changes
	// (vrrp.Snapshot.RecentTransitions), oldest first: an instance that
	// flaps still does in the new process. Nil from a process that did not
	// hand them over.
	Transitions []handedTransition `json:"transitions,omitempty"`
	// StateFor is how long the instance had been in State at the
	// hand-over, and StateReason why it entered it: the router does not
	// change state, so its successor's status goes on saying so. Master
	// is the last advert it heard from another router: a BACKUP's
	// successor carries on from its master's interval
	// (vrrp.Adoption.Master). Zero and nil from a process that did not
	// hand them over: the successor starts the state afresh.
	StateFor    time.Duration `json:"state_for_ns,omitempty"`
	StateReason string        `json:"state_reason,omitempty"`
	Master      *handedMaster `json:"master,omitempty"`
}

// handedMaster is the last advert an instance heard from another router
// (vrrp.MasterInfo), Ago before the hand-over.
type handedMaster struct {
	Addr           netip.Addr    `json:"addr"`
	Priority       uint8         `json:"priority"`
	AdvertInterval time.Duration `json:"advert_interval_ns"`
	Ago            time.Duration `json:"ago_ns"`
}

// handedTransition is a state change of an instance, Ago before the
// hand-over (the processes' clocks are not compared).
type handedTransition struct {
	Ago    time.Duration `json:"ago_ns"`
	From   vrrp.State    `json:"from"`
	To     vrrp.State    `json:"to"`
	Reason string        `json:"reason"`
}

// handedState is instance in's state, from its snapshot s taken after it
// stopped quietly, as a successor carries it on (carryOn): what is left at
// now of a release with a duration goes on for at least a millisecond.
func handedState(in *config.VRRPInstance, s vrrp.Snapshot, vips netsetup.VIPSetSnapshot, now time.Time) handedVRRP {
	hv := handedVRRP{handedVRRPInfo: routerOf(in),
		State: s.State, VIPs: slices.Clone(in.VIPs), Released: s.Released, Owned: []netip.Prefix{}}
	for _, v := range vips.VIPs {
		if v.Owned {
			hv.Owned = append(hv.Owned, v.Prefix)
		}
	}
	for _, c := range s.RecentTransitions {
		hv.Transitions = append(hv.Transitions, handedTransition{Ago: now.Sub(c.At), From: c.From, To: c.To, Reason: c.Reason})
	}
	if !s.Since.IsZero() {
		hv.StateFor, hv.StateReason = max(now.Sub(s.Since), time.Nanosecond), s.Reason
	}
	if m := s.Master; m != nil {
		hv.Master = &handedMaster{Addr: m.Addr, Priority: m.Priority, AdvertInterval: m.AdvertInterval, Ago: now.Sub(m.Heard)}
	}
	if s.Released {
		hv.ReleasedSince, hv.ReleaseReason = s.ReleasedSince, s.ReleaseReason
		if !s.ReleasedUntil.IsZero() {
			hv.ReleasedFor = max(s.ReleasedUntil.Sub(now), time.Millisecond)
		}
	}
	return hv
}

// Upgrade starts binary (this daemon's own executable when empty) to take
// over from this daemon and waits, bounded by ctx (the control command's
// timeout) and takeoverTimeout, until it has or has failed; a client that
// goes away does not end it. On success this daemon is handing over: Run
// finishes the sessions and returns nil. On failure the new process is
// killed and this daemon serves on as before. The binary must be a
// regular executable file that only root or the daemon's own user may
// write. An upgrade is refused while a reload runs, while another upgrade
// is under way, and while a VRRP instance hands its VIPs over to a peer.
func (d *Daemon) Upgrade(ctx context.Context, binary string) (control.Upgrade, error) {
	select {
	case <-d.ready:
	case <-ctx.Done():
		return control.Upgrade{}, fmt.Errorf("upgrading: the daemon is still starting: %w", ctx.Err())
	}
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return control.Upgrade{}, fmt.Errorf("upgrading: finding this program: %w", err)
		}
		binary = exe
	}
	if err := checkProgram(binary); err != nil {
		return control.Upgrade{}, fmt.Errorf("upgrading: %w", err)
	}
	args := append(slices.Clip(d.opt.SuccessorArgs), "--takeover-from", d.controlSocket())
	if d.opt.SuccessorArgs == nil {
		args = []string{"run", "--config", d.opt.Path, "--takeover-from", d.controlSocket()}
	}
	start := d.opt.StartSuccessor
	if start == nil {
		start = startExecSuccessor
	}

	// A reload running now would change what is handed over; one asked
	// for later is refused until the upgrade is over (Reload). The
	// control socket's watcher holds the lock for a moment every second
	// (watchControl): waited for, briefly.
	if !tryLockFor(&d.reloadMu, 500*time.Millisecond) {
		return control.Upgrade{}, errors.New("upgrading: a reload is running; upgrade once it is done")
	}
	// The new process reads the file: an edit nobody loaded goes live
	// with it, which the answer and the log say.
	change := d.configChange()
	u, err := d.startUpgrade(binary, args, start)
	d.reloadMu.Unlock()
	if err != nil {
		return control.Upgrade{}, fmt.Errorf("upgrading: %w", err)
	}
	d.log.Info("upgrading: started the new process", zap.String("binary", binary), zap.Int("pid", u.pid), zap.Strings("args", args))
	if change != nil && change.Error == "" {
		file := d.opt.Path
		if change.File != "" {
			file = change.File
		}
		d.log.Warn("upgrading: the configuration file, or a file it names, changed and was not loaded: the new process runs it as it is now",
			zap.String("config", d.opt.Path), zap.String("file", file), zap.Time("modified", change.Modified))
	}
	// Owned by the upgrade: it ends when the new process does, which
	// after a successful upgrade may be long after this one has exited.
	go func() {
		u.exitErr = u.succ.Wait()
		close(u.exited)
	}()

	t := d.clock.NewTimer(takeoverTimeout)
	defer t.Stop()
	var why string
	select {
	case res := <-u.done:
		if change != nil && change.Error == "" {
			res.ConfigChange = change
		}
		return u.served(res)
	case <-u.exited:
		why = "the new process exited before it took over"
		if u.exitErr != nil {
			why += " (" + u.exitErr.Error() + ")"
		}
	case <-u.aborted:
		why = "the new process gave up"
	case <-t.C():
		why = fmt.Sprintf("the new process did not take over within %s", takeoverTimeout)
	case <-ctx.Done():
		why = "the request ended: " + ctx.Err().Error()
	case <-d.stop.Done():
		why = "the daemon is stopping"
	}
	if !u.fail() {
		// It is handing over already: that finishes quickly.
		return u.served(<-u.done)
	}
	u.mu.Lock()
	if u.reason != "" {
		why += ": " + u.reason
	}
	u.mu.Unlock()
	select {
	case <-u.exited:
	default:
		if err := u.succ.Kill(); err != nil {
			d.log.Warn("upgrading: killing the new process", zap.Int("pid", u.pid), zap.Error(err))
		}
		kt := d.clock.NewTimer(killWait)
		select {
		case <-u.exited:
		case <-kt.C():
			d.log.Error("upgrading: the new process did not exit after SIGKILL", zap.Int("pid", u.pid))
		}
		kt.Stop()
	}
	if c := u.takeReport(); c != nil {
		c.Close()
	}
	d.mu.Lock()
	d.upgrade = nil
	d.mu.Unlock()
	d.log.Warn("upgrade failed; serving on as before", zap.Int("pid", u.pid), zap.String("reason", why))
	return control.Upgrade{}, fmt.Errorf("upgrade failed, pid %d serves on as before: %s", os.Getpid(), why)
}

// served returns res, the answer of a hand-over, once the new process
// serves the control socket; an error when it exited first (this daemon
// removed the VIPs, watchSuccessor).
func (u *upgradeRun) served(res control.Upgrade) (control.Upgrade, error) {
	<-u.settled
	if u.diedServing {
		why := "exited"
		if u.exitErr != nil {
			why += " (" + u.exitErr.Error() + ")"
		}
		return control.Upgrade{}, fmt.Errorf("upgrade failed: the new process, pid %d, %s after the hand-over, before it served; pid %d removed the VIPs (a backup takes over), finishes its sessions and exits: start rmqlb again", u.pid, why, os.Getpid())
	}
	return res, nil
}

// startUpgrade starts the new process and records the upgrade, unless one
// is under way, the daemon stops, or a VRRP instance is handing its VIPs
// over to a peer or keeps them released (the new process could not carry
// that on).
func (d *Daemon) startUpgrade(binary string, args []string, start func(string, []string) (Successor, error)) (*upgradeRun, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.upgrade != nil {
		return nil, fmt.Errorf("the upgrade to pid %d is under way", d.upgrade.pid)
	}
	if d.stop.Err() != nil {
		return nil, errors.New("the daemon is stopping")
	}
	if err := d.handingOverLocked("upgrade"); err != nil {
		return nil, err
	}
	succ, err := start(binary, args)
	if err != nil {
		return nil, err
	}
	u := &upgradeRun{binary: binary, succ: succ, pid: succ.Pid(), started: d.clock.Now(),
		exited: make(chan struct{}), done: make(chan control.Upgrade, 1), aborted: make(chan struct{}), watched: make(chan struct{}),
		settled: make(chan struct{})}
	d.upgrade = u
	return u, nil
}

// checkProgram checks that path is a regular executable file that nobody
// but root or this process's user may change: the daemon runs it with its
// own privileges.
func checkProgram(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner known", path)
	}
	if st.Uid != 0 && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s belongs to uid %d, not root or the daemon's user", path, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s may be written by others (mode %04o)", path, fi.Mode().Perm())
	}
	return nil
}

// controlSocket is the control socket the daemon serves.
func (d *Daemon) controlSocket() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg.ControlSocket
}

// upgradePID returns the pid of the new process of the upgrade under way,
// 0 without one.
func (d *Daemon) upgradePID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.upgrade == nil {
		return 0
	}
	return d.upgrade.pid
}

// handleUpgrade answers "upgrade [BINARY]", for root and the daemon's own
// user only: the daemon runs the program with its privileges.
func (d *Daemon) handleUpgrade(ctx context.Context, args []string) (any, error) {
	if !control.PeerPrivileged(ctx) {
		return nil, errors.New("upgrade: only root or the daemon's user may upgrade it")
	}
	if len(args) > 1 {
		return nil, errors.New("usage: upgrade [BINARY]")
	}
	binary := ""
	if len(args) == 1 {
		binary = args[0]
	}
	return d.Upgrade(ctx, binary)
}

// successor returns the upgrade under way when ctx is a request of its new
// process, moved from phase from to phase to.
func (d *Daemon) successor(ctx context.Context, what string, from, to upgradePhase) (*upgradeRun, error) {
	pid, _ := control.PeerPID(ctx)
	d.mu.Lock()
	u := d.upgrade
	d.mu.Unlock()
	if u == nil || u.pid != pid {
		return nil, fmt.Errorf("%s: only the process started by `rmqlb upgrade` may take over", what)
	}
	if !u.advance(from, to) {
		return nil, fmt.Errorf("%s: out of turn, or the upgrade was given up", what)
	}
	return u, nil
}

// offerTakeover answers "takeover": the sockets, as copies (this daemon
// serves on with its own until the new process is ready), and the state
// the new process carries on from.
func (d *Daemon) offerTakeover(ctx context.Context) (any, error) {
	u, err := d.successor(ctx, "takeover", phaseStarted, phaseOffered)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	add := func(f *os.File) int { files = append(files, f); return len(files) - 1 }
	fail := func(err error) (any, error) {
		closeFiles(files)
		u.fail()
		return nil, fmt.Errorf("handing over: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	offer := takeoverOffer{Protocol: takeoverProtocol, PID: os.Getpid(), Version: d.opt.Version, Now: d.clock.Now()}
	if n := len(d.listeners) + 4; n > maxHandedFiles {
		return fail(fmt.Errorf("%d sockets, more than the %d one hand-over carries", n, maxHandedFiles))
	}
	lock, err := d.lock.dup()
	if err != nil {
		return fail(err)
	}
	offer.Lock = add(lock)
	ctl, err := control.ListenerFile(d.ctlLn)
	if err != nil {
		return fail(err)
	}
	offer.Control = add(ctl)
	if d.metrics != nil {
		f, err := d.metrics.srv.File()
		if err != nil {
			return fail(err)
		}
		offer.Metrics = &handedSocket{Bind: d.metrics.srv.addr.String(), File: add(f)}
	}
	ops := d.operatorStatesLocked()
	for _, name := range listenerOrder(d.cfg) {
		lu := d.listeners[name]
		if lu == nil {
			continue
		}
		f, err := lu.l.ListeningFile()
		if err != nil {
			// Not bound (a listener that failed on reload): the new
			// process binds it itself.
			d.log.Info("handing over: listener not listening", zap.String("listener", name), zap.Error(err))
			continue
		}
		offer.Listeners = append(offer.Listeners, handedSocket{Name: name, Bind: lu.cfg.Bind.String(), File: add(f)})
		for _, o := range ops {
			if o.ID.Listener == name {
				offer.Backends = append(offer.Backends, handedBackend{ID: o.ID, Admin: o.Admin, Weight: o.Weight})
			}
		}
		if pins := lu.l.Pins(); len(pins) > 0 {
			offer.Pins = append(offer.Pins, handedPins{Listener: name, Pins: pins})
		}
	}
	checks := map[backend.ID]healthcheck.BackendStatus{}
	for _, st := range d.sched.Snapshot().Backends {
		checks[st.Backend] = st
	}
	for i := range offer.Backends {
		hb := &offer.Backends[i]
		if st, ok := checks[hb.ID]; ok {
			hb.Checked, hb.Health, hb.Reason = true, st.Health, st.Reason
			hb.Downs, hb.Full = st.Downs, st.Full
			for _, at := range st.RecentDowns {
				hb.DownsAgo = append(hb.DownsAgo, offer.Now.Sub(at))
			}
			if st.LastCheck.IsZero() {
				hb.Reason = "" // not checked yet: the new process checks it first
			}
		}
	}
	for i := range d.cfg.VRRP {
		offer.VRRP = append(offer.VRRP, routerOf(&d.cfg.VRRP[i]))
	}
	// Without the channel the upgrade goes on: the new process's status
	// then shows the sessions at the hand-over only.
	if c, f, err := finishingPair(); err != nil {
		d.log.Warn("upgrading", zap.Error(err))
	} else {
		i := add(f)
		offer.Report = &i
		u.mu.Lock()
		u.report = c
		u.mu.Unlock()
	}
	d.log.Info("upgrading: handed the sockets to the new process", zap.Int("pid", u.pid),
		zap.Int("listeners", len(offer.Listeners)), zap.Int("files", len(files)))
	return control.WithFiles{Result: offer, Files: files}, nil
}

// commitTakeover answers "takeover-ready [VERSION]": from here on this daemon gives
// its service up to the new process and nothing fails back. It stops
// accepting on the control and metrics sockets (the new process serves
// them on: the control socket's file stays), stops its VRRP instances
// quietly (but those the new process does not carry on: see
// routerFates), lets its listeners' sessions finish up to graceful_timeout even
// on VIP-bound listeners (the VIPs stay), tells the service manager the new
// main pid, and tells Run to finish.
func (d *Daemon) commitTakeover(ctx context.Context, args []string) (any, error) {
	u, err := d.successor(ctx, "takeover-ready", phaseOffered, phaseCommitting)
	if err != nil {
		return nil, err
	}
	if err := control.KeepSocketFile(d.ctlLn); err != nil {
		d.log.Warn("upgrading: keeping the control socket file for the new process", zap.Error(err))
	}
	d.ctlLn.Close()
	d.stopMetrics()

	res := control.Upgrade{Binary: u.binary, OldPID: os.Getpid(), NewPID: u.pid, Took: d.clock.Now().Sub(u.started)}
	fates := map[string]string{}
	if len(args) > 0 {
		res.NewVersion, fates = args[0], parseFates(args[1:])
	}
	d.mu.Lock()
	units, socket := maps.Clone(d.units), d.cfg.ControlSocket
	// The instances the new process does not carry on (its file changed
	// their interface, VRID or version, or has them no more) stop as at a
	// stop of the daemon: a MASTER hands its VIPs over with a priority-0
	// advert, so that a peer takes over within Skew_Time, rather than a
	// master down interval after the new process removed them.
	was := map[string]vrrp.State{} // of those: the state they stopped in
	for name, unit := range d.units {
		if carriedOn(fates[name]) {
			unit.inst.StopQuietly()
		} else {
			was[name] = unit.inst.Snapshot().State
		}
	}
	stopUnits(d.units)
	var rel takeoverRelease
	now := d.clock.Now()
	for _, in := range d.cfg.VRRP {
		unit := d.units[in.Name]
		if unit == nil {
			continue
		}
		s := unit.inst.Snapshot()
		hv := handedState(&in, s, unit.vips.Snapshot(), now)
		rel.VRRP = append(rel.VRRP, hv)
		st := s.State
		if !carriedOn(fates[in.Name]) {
			st = was[in.Name]
		}
		res.VRRP = append(res.VRRP, control.UpgradeVRRP{Name: in.Name, State: st.String(), Released: s.Released, Fate: fates[in.Name]})
	}
	var busyGrace time.Duration // the longest graceful_timeout of the listeners with sessions
	for _, name := range listenerOrder(d.cfg) {
		l := d.listeners[name]
		if l == nil {
			continue
		}
		l.l.HandOver(l.cfg.GracefulTimeout)
		res.GracefulTimeout = max(res.GracefulTimeout, l.cfg.GracefulTimeout)
		res.Listeners = append(res.Listeners, name)
		if n := sessionsOf(l.l.Snapshot()); n > 0 {
			res.Sessions += n
			busyGrace = max(busyGrace, l.cfg.GracefulTimeout)
			res.CloseSpread = max(res.CloseSpread, l.cfg.CloseSpread)
		}
	}
	if res.Sessions > 0 {
		rel.Finishing = &control.PreviousProcess{PID: os.Getpid(), Sessions: res.Sessions, Until: now.Add(busyGrace), CloseSpread: res.CloseSpread}
	}
	d.mu.Unlock()

	d.notifyHandedOver(u.pid)
	// The new process holds the lock too: a daemon started after it died
	// must not wait for this one's sessions.
	d.lock.release()
	u.advance(phaseCommitting, phaseCommitted)
	go d.watchSuccessor(u, units, socket)
	if c := u.takeReport(); c != nil {
		go d.reportFinishing(c)
	}
	d.log.Info("upgrading: handed over; finishing the sessions",
		zap.Int("pid", u.pid), zap.Int("sessions", res.Sessions), zap.Duration("graceful_timeout", res.GracefulTimeout))
	u.done <- res
	close(d.handedOver)
	return rel, nil
}

// sessionsOf counts the sessions of a listener's backends, those of the
// backends a reload removed while keeping their sessions included: the
// sessions this daemon finishes after a hand-over.
func sessionsOf(s balancer.Snapshot) int {
	n := 0
	for _, b := range s.Backends {
		n += b.Active
	}
	for _, b := range s.Removed {
		n += b.Active
	}
	return n
}

// watchSuccessor runs from the hand-over until Run returns. First it
// waits, bounded by successorServeWait, for the new process to serve the
// control socket (Run and the answer to "upgrade" wait for that: settled);
// then while this daemon finishes its sessions. Should the new process
// exit before it serves, or meanwhile with no daemon left serving the
// control socket (it died; one that upgraded in turn leaves its own
// successor answering there), nothing would advertise for the VIPs it
// took on, so this daemon removes them: their sessions here end, and a
// backup takes over once the adverts stop.
func (d *Daemon) watchSuccessor(u *upgradeRun, units map[string]*vrrpUnit, socket string) {
	defer close(u.watched)
	settle := sync.OnceFunc(func() { close(u.settled) })
	defer settle()
	deadline := time.Now().Add(successorServeWait)
	for !daemonServes(socket) {
		if time.Now().After(deadline) {
			d.log.Warn("the new process does not serve the control socket; exiting all the same", zap.Int("pid", u.pid))
			break
		}
		select {
		case <-u.exited:
			u.diedServing = true
			d.log.Error("the new process exited after the hand-over, before it served; removing the VIPs",
				zap.Int("pid", u.pid), zap.Error(u.exitErr))
			d.releaseVIPs(units)
			return
		case <-time.After(successorPoll):
		}
	}
	settle()
	select {
	case <-d.runDone:
		return
	case <-u.exited:
	}
	if daemonServes(socket) {
		return
	}
	d.log.Error("the new process exited while this one finished its sessions and no daemon serves; removing the VIPs",
		zap.Int("pid", u.pid), zap.Error(u.exitErr))
	d.releaseVIPs(units)
}

// daemonServes reports whether a daemon answers on the control socket.
func daemonServes(socket string) bool {
	var refused *control.RefusedError
	err := control.Call(socket, control.Request{Command: "status"}, nil, time.Second)
	return err == nil || errors.As(err, &refused)
}

// releaseVIPs removes the VIPs of units, which no longer run.
func (d *Daemon) releaseVIPs(units map[string]*vrrpUnit) {
	for name, unit := range units {
		ctx, cancel := context.WithTimeout(context.Background(), killWait)
		if err := unit.vips.Release(ctx); err != nil {
			d.log.Warn("removing the VIPs", zap.String("vrrp_instance", name), zap.Error(err))
		}
		cancel()
	}
}

// awaitSuccessor returns once the new process an upgrade handed over to
// serves the control socket, or has exited and this daemon removed the
// VIPs (watchSuccessor), or neither within successorServeWait; at once
// without a hand-over. Run calls it before it returns, so that this
// process does not leave VIPs that nothing advertises for.
func (d *Daemon) awaitSuccessor() {
	select {
	case <-d.handedOver:
	default:
		return
	}
	d.mu.Lock()
	u := d.upgrade
	d.mu.Unlock()
	if u != nil {
		<-u.settled
	}
}

// abortTakeover answers "takeover-abort": the new process gives up and
// says why; Upgrade reports it once the process has exited.
func (d *Daemon) abortTakeover(ctx context.Context, args []string) (any, error) {
	pid, _ := control.PeerPID(ctx)
	d.mu.Lock()
	u := d.upgrade
	d.mu.Unlock()
	if u == nil || u.pid != pid {
		return nil, errors.New("takeover-abort: only the process started by `rmqlb upgrade` may give up")
	}
	u.mu.Lock()
	u.reason = strings.Join(args, " ")
	u.mu.Unlock()
	if !u.fail() {
		return nil, errors.New("takeover-abort: too late, the hand-over is done")
	}
	u.abortOnce.Do(func() { close(u.aborted) })
	return struct{}{}, nil
}

// dup returns a copy of the lock's file: the lock is the open file's, so
// it is held while either copy is open.
func (l *instanceLock) dup() (*os.File, error) {
	fd, err := dupFile(l.f)
	if err != nil {
		return nil, fmt.Errorf("handing over the single-instance lock: %w", err)
	}
	return os.NewFile(uintptr(fd), l.f.Name()), nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// tryLockFor takes mu if it comes free within d (real time), polling.
func tryLockFor(mu *sync.Mutex, d time.Duration) bool {
	for end := time.Now().Add(d); ; time.Sleep(5 * time.Millisecond) {
		if mu.TryLock() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
