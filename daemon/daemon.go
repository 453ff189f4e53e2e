package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/ctxclose"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
	"github.com/rmqlb/rmqlb/vrrp/sendproc"
)

// Options are the daemon's collaborators. Only Path is required; every
// other zero value means the real thing (tests inject fakes).
type Options struct {
	// Path is the configuration file; Reload reads it again.
	Path string
	// ProxyLoops is the number of event loops of each listener
	// (balancer.Config.Loops); 0 means GOMAXPROCS. rmqlb run sets it
	// when it gives the Go runtime a processor beside the event loops
	// (see GoProcs).
	ProxyLoops int
	// Version is reported in status, logs and rmqlb_build_info.
	Version string
	// Logger logs; nil logs nothing. Level, when set, is the level the
	// logger obeys, changed by a reload of log_level.
	Logger *zap.Logger
	Level  *zap.AtomicLevel
	// Clock is the time of the health checks, the VRRP instances and the
	// daemon's own waits. Nil: the real clock.
	Clock clock.Clock
	// CheckJitter returns the random delay, in [0, max), of a backend's
	// first check. Nil: a uniform random one (healthcheck's default).
	CheckJitter func(max time.Duration) time.Duration
	// Registry receives every metric. Nil: a new registry with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// NewChecker builds the checker of a backend whose check type is not
	// none. Nil: NewChecker of this package (AMQP or TCP).
	NewChecker func(b *config.Backend) (healthcheck.Checker, error)
	// NewVRRP builds the transport and the VIP owner of an instance. Nil:
	// the real ones (a raw socket opened by vrrp.Instance.Run, and a
	// netsetup.VIPSet).
	NewVRRP func(in *config.VRRPInstance, log *zap.Logger, reg prometheus.Registerer) (vrrp.Transport, VIPOwner, error)
	// RemoveStale removes the VIPs a killed daemon left behind, once at
	// start after the lock is taken. Nil: netsetup's, for the VIPs of
	// the configuration. Tests without root set a no-op.
	RemoveStale func(cfg *config.Config, log *zap.Logger) error

	// Takeover, when set, makes this daemon take over from the running
	// one that handed it over (see TakeOver): an upgrade in place.
	Takeover *Takeover
	// SuccessorArgs are the arguments, after the program, that an
	// upgrade starts the new program with. Nil: run --config Path
	// --takeover.
	SuccessorArgs []string
	// StartSuccessor starts the new program of an upgrade. Nil: os/exec,
	// writing to this process's standard output and error.
	StartSuccessor func(binary string, args []string) (Successor, error)
	// SenderCommand returns the command of the VRRP advert sender process
	// (vrrp_sender: process; see package vrrp/sendproc). Nil: this
	// program (os.Executable) with the arguments vrrp-sender and, with
	// vrrp_rt_priority, --rt-priority N: rmqlb's hidden subcommand.
	SenderCommand func() *exec.Cmd
}

// VIPOwner is what a VRRP unit drives: a netsetup.VIPSet in production.
type VIPOwner interface {
	vrrp.Owner
	// Run sends the scheduled announcements until ctx is done.
	Run(ctx context.Context) error
	// Snapshot tells the VIPs' presence on the interface, for status.
	Snapshot() netsetup.VIPSetSnapshot
	// Update changes the VIPs and the GARP settings while it runs (a
	// reload; see netsetup.VIPSet.Update).
	Update(cfg netsetup.VIPConfig) error
}

// Daemon is rmqlb's running model: the VRRP units, the listeners, the
// health checks and the tracks that tie them, built from a configuration
// and changed by reloads (Plan). Create it with New and run it with Run;
// Status, Handle, Reload and RequestReload are safe from any goroutine at
// any time (a reload asked for before Run is ready waits for it).
type Daemon struct {
	opt Options
	// holds is shared by every listener's event loops: how many may keep
	// a processor of the Go runtime through a wait at once, one fewer than
	// the runtime has when the daemon is made (balancer.Holds).
	holds   *balancer.Holds
	log     *zap.Logger
	clock   clock.Clock
	reg     *prometheus.Registry
	started time.Time
	// files compares the configuration's files with what the daemon
	// read of them (configChange). Safe for concurrent use.
	files   fileWatch
	sched   *healthcheck.Scheduler
	reloads chan struct{} // cap 1: a reload was asked for
	// alive is received by Run's main loop: the watchdog's probe of it
	// (mainLoopAlive). Unbuffered.
	alive chan struct{}
	// rtPriority is the running vrrp_rt_priority: instances a reload
	// adds use it too; a reload that changes it restarts the instances
	// in place (restartInstances). Guarded by mu.
	rtPriority int
	// sender is the VRRP advert sender process of the running
	// vrrp_sender: process, nil without; senderPart runs it, nil until
	// the first VRRP unit starts; senderReg holds its metrics. A reload
	// that changes vrrp_sender or vrrp_rt_priority replaces them
	// (restartInstances). Guarded by mu.
	sender     *sendproc.Process
	senderPart *part
	senderReg  *partRegistry

	reloadMu sync.Mutex // serialises reloads (held across a whole one)
	// opStateMu serialises the writes of the state file (saveOpState).
	opStateMu sync.Mutex
	// stateFileErr is the last failure to write the state file since the
	// last write that succeeded; nil when none. Guarded by mu.
	stateFileErr *control.StateFileError
	// starting is the step of the start that Run is in (startStep); nil
	// before Run and once every part has started. Guarded by mu.
	starting *control.Starting
	// stopState is the step of the stop that Run is in (stopStep); nil
	// until Run begins to stop. Guarded by mu.
	stopState *control.Stopping
	// stopping is closed when Run starts to stop its parts; from then
	// on reloads are refused (Reload looks at it under reloadMu): a part
	// a reload started after shutdown had stopped the others would run
	// on, and Run would never return.
	stopping     chan struct{}
	stoppingOnce sync.Once
	// ctlTrouble is why the control socket's files could not be
	// re-created, as last logged; "" when they are in place. Guarded by
	// reloadMu.
	ctlTrouble string

	// mu guards the running model below. Reloads, operator commands and
	// status take it; health events do not (the router has its own lock).
	mu         sync.Mutex
	cfg        *config.Config
	units      map[string]*vrrpUnit
	listeners  map[string]*listenerUnit
	lastReload *control.Reload
	// cfgWarnings are the warnings of the file as last read (warnAbout),
	// for the status.
	cfgWarnings []string
	// hostLacks is what the host lacked when the file was read, of which
	// cfgWarnings warn: status leaves out those warnings once the host
	// has it (currentWarnings).
	hostLacks config.HostLacks
	// lookupInterface finds an interface by name (net.InterfaceByName)
	// and hostAddrs lists the host's addresses (config.HostAddrs);
	// others in tests (set under mu).
	lookupInterface func(string) (*net.Interface, error)
	hostAddrs       func() (map[netip.Addr]bool, error)
	reloadsOK       uint64
	reloadsBad      uint64
	// lastReloadOK is when the configuration was last loaded whole: at
	// New, then at each successful reload.
	lastReloadOK time.Time
	// previous is the process this one took over from, while it finishes
	// its sessions; nil without a take-over, or once it has exited.
	previous *previousProcess

	router *router // routes health events to the listeners

	// upgrade is the upgrade under way; nil without. Guarded by mu.
	upgrade *upgradeRun
	// moves are the operator's moves of a backend's sessions, under way
	// or ended (MoveSessions), in the order they began; an ended one is
	// dropped by the next move after moveKept. Guarded by mu, and so
	// are their fields, which a move's goroutine updates.
	moves []*control.SessionMove
	// rebalances are the operator's rebalances of a listener's sessions
	// (Rebalance), kept as moves are. Guarded by mu.
	rebalances []*rebalance

	// Set by Run.
	runCtx context.Context // the parts' parent; done when the daemon stops
	stop   context.Context // done when Run starts to stop
	// The single-instance lock, the control socket, its server and the
	// part serving it: set by Run, replaced together by a reload that
	// moves the control socket (moveControl), and the lock or the
	// listener and its part when their files were removed
	// (restoreControl), under mu.
	lock    *instanceLock
	ctlLn   net.Listener
	ctl     *control.Server // serves ctlLn; a reload changes its group
	ctlPart *part           // nil until served
	// handedOver is closed once an upgrade's new process has taken over:
	// Run finishes the sessions and returns.
	handedOver chan struct{}
	// runDone is closed when Run returns.
	runDone     chan struct{}
	runDoneOnce sync.Once
	parts       *group
	ready       chan struct{} // closed once every part has started
	metrics     *metricsPart  // nil without an endpoint

	sd sdNotifier // tells systemd (sd_notify) of start, reloads and stop
}

// New builds the daemon's parts from cfg without starting anything: no
// socket is opened and no address is touched before Run.
func New(cfg *config.Config, opt Options) (*Daemon, error) {
	d := &Daemon{
		opt:        opt,
		holds:      balancer.NewHolds(runtime.GOMAXPROCS(0) - 1),
		log:        opt.Logger,
		clock:      opt.Clock,
		reg:        opt.Registry,
		reloads:    make(chan struct{}, 1),
		alive:      make(chan struct{}),
		cfg:        cfg,
		rtPriority: cfg.VRRPRealTimePriority,
		units:      map[string]*vrrpUnit{},
		listeners:  map[string]*listenerUnit{},
		ready:      make(chan struct{}),
		stopping:   make(chan struct{}),

		lookupInterface: net.InterfaceByName,
		hostAddrs:       config.HostAddrs,

		handedOver: make(chan struct{}),
		runDone:    make(chan struct{}),
	}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	if d.clock == nil {
		d.clock = clock.Real{}
	}
	if d.reg == nil {
		d.reg = prometheus.NewRegistry()
		d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if d.opt.NewChecker == nil {
		d.opt.NewChecker = NewChecker
	}
	d.started = d.clock.Now()
	d.lastReloadOK = d.started
	if err := d.reg.Register(newDaemonCollector(d)); err != nil {
		return nil, fmt.Errorf("registering daemon metrics: %w", err)
	}
	met, err := healthcheck.NewMetrics(d.reg)
	if err != nil {
		return nil, fmt.Errorf("registering health-check metrics: %w", err)
	}
	d.sched = healthcheck.NewScheduler(healthcheck.Options{Clock: d.clock, Logger: d.log, Metrics: met, Jitter: opt.CheckJitter,
		Traffic: func(id backend.ID, within time.Duration) bool { return d.router.sending(id, within) }})
	d.router = newRouter(d.log)
	d.sched.Subscribe(d.router.handle)
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		u, err := d.newListener(cfg, l)
		if err != nil {
			return nil, err
		}
		if opt.Takeover != nil {
			if err := d.carryOnListener(u, opt.Takeover); err != nil {
				return nil, err
			}
			continue
		}
		for j := range l.Backends {
			if err := d.addCheck(&l.Backends[j], false); err != nil {
				return nil, err
			}
		}
	}
	if err := d.newSender(cfg); err != nil {
		return nil, err
	}
	for i := range cfg.VRRP {
		if _, err := d.newUnit(&cfg.VRRP[i], cfg); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Run runs the daemon until ctx is done or a part fails, in this order:
// take the single-instance lock (before any address is touched), remove
// the VIPs a killed daemon left, open the control socket, restore the
// operator's states of the last run (the state file) before it answers,
// open the metrics endpoint, start the listeners (each bound, or its
// error reported) and the health checks, wait for every backend's first
// check (bounded), then start the VRRP instances and wait until each runs
// (or failed, which fails the start); status says
// which step it is in (control.Starting). It stops in the reverse order,
// VRRP first (control.Stopping): a master hands its VIPs over (priority
// 0) before its listeners close, so a client reconnecting during the
// hand-over is not refused here. Run returns the errors of the parts
// that failed, or ErrLocked (wrapped) when another daemon holds the lock.
// Run may be called once.
//
// With Options.Takeover it takes over from the running daemon instead (an
// upgrade in place): the lock, the control socket, the metrics socket and
// the listening sockets are the running daemon's, no VIP is removed and no
// first check awaited (the backends' states are handed over); once its
// listeners serve it tells the running daemon, which stops, and it starts
// its VRRP instances in the states handed over. Until then a failure is
// reported to the running daemon, which serves on.
//
// Once an upgrade's new process has taken over from this daemon, Run
// finishes the sessions and returns nil, as on ctx's end but without
// touching the VRRP instances (already stopped quietly) or telling the
// service manager (it follows the new process).
func (d *Daemon) Run(ctx context.Context) (err error) {
	defer d.runDoneOnce.Do(func() { close(d.runDone) })
	d.mu.Lock()
	cfg := d.cfg
	d.mu.Unlock()
	tk := d.opt.Takeover
	tookOver := false
	if tk != nil {
		d.lock = tk.lockFile()
		// A failure before the hand-over gives the take-over up: the
		// running daemon serves on and learns why.
		defer func() {
			if err != nil && !tookOver {
				d.closeUnserved()
				tk.Abort(err)
			}
		}()
	} else if d.lock, err = takeLock(LockPath(cfg.ControlSocket)); err != nil {
		return err
	} else if who, answers := answering(cfg.ControlSocket); answers {
		// The lock file was removed or replaced under a running daemon
		// (which makes it again within a second): its VIPs are its own.
		d.lock.release()
		return fmt.Errorf("taking the single-instance lock: %w: one answers on %s%s (its lock file %s was removed or replaced)",
			ErrLocked, cfg.ControlSocket, who, LockPath(cfg.ControlSocket))
	}
	defer func() {
		d.mu.Lock()
		l := d.lock
		d.mu.Unlock()
		l.release()
	}()
	d.log.Info("starting rmqlb", zap.String("version", d.opt.Version), zap.String("config", d.opt.Path),
		zap.Int("vrrp_instances", len(cfg.VRRP)), zap.Int("listeners", len(cfg.Listeners)), zap.Bool("takeover", tk != nil))
	d.warnAbout(cfg)
	if len(cfg.VRRP) > 0 && tk == nil {
		if err := d.removeStale(cfg); err != nil {
			d.log.Warn("removing stale VIPs of an earlier run", zap.Error(err))
		}
	}
	d.writeScope(cfg)

	stop, fail := context.WithCancel(ctx)
	defer fail()
	d.stop = stop
	d.parts = &group{onFail: fail}
	// The parts outlive ctx: they are stopped one by one, in order, by
	// shutdown.
	d.runCtx = context.WithoutCancel(ctx)
	var checks, watch *part
	shutdown := func(startErr error) error {
		d.mu.Lock()
		step := "stopping the listeners"
		if len(d.units) > 0 {
			step = "stopping the VRRP instances (a MASTER hands its VIPs over)"
		}
		d.mu.Unlock()
		d.stopStep(step, time.Time{})
		d.refuseReloads()
		d.stopAll()
		d.stopSender()
		d.mu.Lock()
		ctl := d.ctlPart
		d.mu.Unlock()
		// The watcher first: it re-creates nothing once reloads are
		// refused, but it must not outlive the control socket.
		for _, p := range []*part{watch, checks, ctl} {
			if p != nil {
				p.stop()
			}
		}
		d.stopMetrics()
		d.parts.wait()
		errs := d.parts.err()
		if startErr == nil || errors.Is(errs, startErr) {
			return errs
		}
		return errors.Join(startErr, errs)
	}

	srv := d.newControlServer(cfg)
	d.ctl = srv
	if tk != nil {
		d.ctlLn, err = srv.Inherit(tk.take(tk.offer.Control))
	} else {
		d.ctlLn, err = srv.Listen()
	}
	if err != nil {
		return err
	}
	serveControl := func() {
		ln := d.ctlLn
		ctl := d.parts.start(d.runCtx, "control socket", true, func(ctx context.Context) error { return srv.Serve(ctx, ln) })
		d.mu.Lock()
		d.ctlPart = ctl
		d.mu.Unlock()
		watch = d.parts.start(d.runCtx, "control socket watch", false, d.watchControl)
	}
	if tk == nil {
		// The operator's states of the last run, before the control
		// socket answers (a status shows them, and an operator's
		// command is not overwritten by them), a client is accepted or
		// a check runs.
		d.restoreOpState(cfg.StateFile)
		d.startStep("starting the listeners", time.Time{})
		serveControl()
	} else {
		// Served once the running daemon has stopped serving it; until
		// then a request here would be this process's own. If the
		// take-over fails, the socket file stays for the running daemon.
		defer func() {
			d.mu.Lock()
			served := d.ctlPart != nil
			d.mu.Unlock()
			if !served {
				_ = control.KeepSocketFile(d.ctlLn)
				d.ctlLn.Close()
			}
		}()
	}
	if cfg.MetricsListen.IsValid() {
		var p *metricsPart
		if f := tk.metricsFile(cfg.MetricsListen); f != nil {
			var ms *metricsServer
			if ms, err = inheritMetrics(cfg.MetricsListen, f, d.reg, defaultMetricsLimits); err == nil {
				p = d.serveMetrics(ms, true)
			}
		} else {
			p, err = d.startMetrics(cfg.MetricsListen, true)
		}
		if err != nil {
			return shutdown(err)
		}
		d.mu.Lock()
		d.metrics = p
		d.mu.Unlock()
	}
	if tk != nil {
		// The take-over: every listener can serve before the running
		// daemon is told to stop, but serves only after it has.
		if err := d.bindListeners(cfg); err != nil {
			return shutdown(err)
		}
		checks = d.parts.startProbed(d.runCtx, "health checks", true, d.sched.Run, d.sched)
		var handed takeoverRelease
		if handed, err = d.handOverFrom(tk, stop); err != nil {
			return shutdown(err)
		}
		tookOver = true
		d.lock.writePID()
		if f := handed.Finishing; f != nil {
			d.mu.Lock()
			d.previous = &previousProcess{shown: *f, gone: processGone(f.PID)}
			d.mu.Unlock()
			if handed.report != nil {
				go d.followPrevious(handed.report, f.PID)
			}
		} else if handed.report != nil {
			handed.report.Close()
		}
		// Committed: whatever happens next, the VRRP instances run (a
		// stop asked for meanwhile then hands their VIPs over as usual).
		d.mu.Lock()
		d.startUnitsFrom(cfg, handed)
		d.mu.Unlock()
		if err := d.startListeners(cfg); err != nil {
			return shutdown(err)
		}
		// The states taken over, written as a start writes those it
		// restored: a state file that cannot be written is shown from
		// the upgrade on. A failure is logged and shown by status.
		_ = d.saveOpState()
		d.startStep("starting the VRRP instances", time.Time{})
		serveControl()
		d.log.Info("took over from the running daemon", zap.Int("pid", tk.PID()), zap.String("its_version", tk.offer.Version))
	} else {
		if err := d.startListeners(cfg); err != nil {
			return shutdown(err)
		}
		checks = d.parts.startProbed(d.runCtx, "health checks", true, d.sched.Run, d.sched)
		if len(cfg.VRRP) > 0 {
			limit := firstCheckLimit(cfg)
			d.startStep(firstChecksStep, d.clock.Now().Add(limit))
			d.notifyStatus("starting: " + firstChecksStep)
			d.waitFirstChecks(stop, limit)
		}
		if stop.Err() == nil {
			if len(cfg.VRRP) > 0 {
				d.startStep("starting the VRRP instances", time.Time{})
			}
			d.mu.Lock()
			d.startUnitsFrom(cfg, takeoverRelease{})
			d.mu.Unlock()
		}
	}
	// READY=1 says the VRRP instances run: one whose interface is not
	// ready runs in FAULT until it is; one that cannot open its sockets
	// for another reason (no permission) fails the start, as a listener
	// that cannot bind does, instead of failing just after it.
	d.awaitStarted(stop)
	d.mu.Lock()
	d.starting = nil
	d.mu.Unlock()
	close(d.ready)
	d.notifyStarted(stop)

	for {
		select {
		case <-stop.Done():
			d.log.Info("stopping: VRRP first, then listeners")
			d.notifyStopping()
			err := shutdown(nil)
			d.awaitSuccessor()
			return err
		case <-d.handedOver:
			d.log.Info("handed over to the new process: finishing the sessions, then exiting")
			err := shutdown(nil)
			d.awaitSuccessor()
			return err
		case <-d.reloads:
			// A reload asked for (SIGHUP) before a stop that is
			// waiting too is not run: it would delay the stop and,
			// for a daemon stopped while it started, say READY=1.
			if stop.Err() == nil {
				d.Reload()
			}
		case <-d.alive: // the watchdog's probe (mainLoopAlive)
		}
	}
}

// startListeners starts every listener of cfg in file order, each bound
// (or its error returned).
func (d *Daemon) startListeners(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, name := range listenerOrder(cfg) {
		if err := d.startListener(d.listeners[name], true); err != nil {
			return err
		}
	}
	return nil
}

// startUnitsFrom starts the VRRP unit of every instance of cfg, each
// carrying on from its state in handed when the process this one
// succeeds had the same virtual router. The caller holds d.mu.
func (d *Daemon) startUnitsFrom(cfg *config.Config, handed takeoverRelease) {
	for i := range cfg.VRRP {
		in := &cfg.VRRP[i]
		u := d.units[in.Name]
		if v, ok := handed.vrrpState(in); ok {
			if err := v.carryOn(u, d.clock.Now()); err != nil {
				d.log.Warn("carrying on the VRRP state handed over", zap.String("vrrp_instance", in.Name), zap.Error(err))
			}
		}
		d.startUnit(u)
	}
}

// startStep records the step of the start that Run is in, for status
// (control.Starting); until is when it ends at the latest (zero: it is
// not bounded). The service manager's status line says only the step
// that can last (the first health checks).
func (d *Daemon) startStep(step string, until time.Time) {
	d.mu.Lock()
	d.starting = &control.Starting{Step: step, Until: until}
	d.mu.Unlock()
}

// awaitStarted returns once every VRRP instance started runs (its sockets
// open, or in FAULT while its interface is not ready), or has ended (when
// it failed, its error has made the daemon stop: stop is done), or when
// stop is done.
func (d *Daemon) awaitStarted(stop context.Context) {
	d.mu.Lock()
	var units []*vrrpUnit
	for _, u := range d.units {
		if u.instPart != nil {
			units = append(units, u)
		}
	}
	d.mu.Unlock()
	for _, u := range units {
		select {
		case <-u.inst.Started():
		case <-u.instPart.done:
		case <-stop.Done():
			return
		}
	}
}

// refuseReloads makes every reload from now on refused and waits for the
// one in progress, if any, to finish: Run's shutdown calls it before it
// stops the parts, so that no reload starts a part after that.
func (d *Daemon) refuseReloads() {
	d.stoppingOnce.Do(func() { close(d.stopping) })
	// A reload that takes the lock after this sees stopping closed.
	d.reloadMu.Lock()
	//lint:ignore SA2001 the empty section waits for the reload in progress
	d.reloadMu.Unlock()
}

// stopAll stops the VRRP units, then the listeners, each group at once.
// It does not hold mu while they stop (a listener drains its sessions for
// up to its graceful timeout), so that status answers meanwhile; the
// caller has made reloads refused (refuseReloads), so the model does not
// change under it. Status says which group it stops (stopStep), and how
// long the listeners' sessions may take.
func (d *Daemon) stopAll() {
	d.mu.Lock()
	units := maps.Clone(d.units)
	listeners := slices.Collect(maps.Values(d.listeners))
	var bound time.Duration
	for _, l := range listeners {
		bound = max(bound, l.drainBound())
	}
	d.mu.Unlock()
	stopUnits(units)
	// Every listener stops accepting first, so that a status that says
	// the sessions finish shows no listener still listening.
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Go(l.stopAccepting)
	}
	wg.Wait()
	if bound > 0 {
		d.stopStep("finishing the listeners' sessions (graceful_timeout)", d.clock.Now().Add(bound))
	} else {
		d.stopStep("closing the listeners' sessions", time.Time{})
	}
	for _, l := range listeners {
		wg.Go(l.stop)
	}
	wg.Wait()
}

// stopStep records the step of the stop that Run is in, for status
// (control.Stopping): the first call is when the stop began, and ends
// the start if it was under way. until is when the step ends at the
// latest (zero: it is not bounded).
func (d *Daemon) stopStep(step string, until time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	since := d.clock.Now()
	if d.stopState != nil {
		since = d.stopState.Since
	}
	d.stopState = &control.Stopping{Since: since, Step: step, Until: until}
	d.starting = nil
}

// Ready returns a channel closed once Run has started every part (after
// the first checks, with the VRRP instances running).
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// RequestReload asks Run to reload the configuration file as soon as it
// is ready; requests made meanwhile are merged into one. It never blocks
// and is safe to call from a signal handler's goroutine at any time, also
// before Run.
func (d *Daemon) RequestReload() {
	select {
	case d.reloads <- struct{}{}:
	default:
	}
}

// waitFirstChecks returns once every checked backend has had its first
// check result, or after limit, or when ctx is done. The daemon starts its
// VRRP instances only then: a host that (re)starts would otherwise preempt
// the VIP back within a few advert intervals while every backend is still
// DOWN for want of a check, and refuse clients until the checks catch up.
func (d *Daemon) waitFirstChecks(ctx context.Context, limit time.Duration) {
	t := d.clock.NewTimer(limit)
	defer t.Stop()
	select {
	case <-d.sched.Checked():
	case <-ctx.Done():
	case <-t.C():
		checked := 0
		snap := d.sched.Snapshot()
		for _, b := range snap.Backends {
			if !b.LastCheck.IsZero() {
				checked++
			}
		}
		d.log.Warn("starting VRRP before every backend was checked", zap.Int("checked", checked), zap.Int("backends", len(snap.Backends)))
	}
}

// firstChecksStep is the step of the start that waits for the first
// health checks (waitFirstChecks).
const firstChecksStep = "waiting for the first health checks before VRRP"

// firstCheckLimit bounds waitFirstChecks: the longest start-up jitter (an
// interval) plus timeout of any check, and a margin; 15 s at most.
func firstCheckLimit(cfg *config.Config) time.Duration {
	var limit time.Duration
	for _, l := range cfg.Listeners {
		for _, b := range l.Backends {
			if b.Check.Type != config.CheckNone {
				limit = max(limit, b.Check.Schedule.Interval+b.Check.Schedule.Timeout)
			}
		}
	}
	return min(limit+250*time.Millisecond, 15*time.Second)
}

// metricsPart is the running metrics endpoint.
type metricsPart struct {
	*part
	srv *metricsServer
}

// startMetrics serves /metrics on addr as a part (critical at start, not
// when a reload moves it).
func (d *Daemon) startMetrics(addr netip.AddrPort, critical bool) (*metricsPart, error) {
	ms, err := listenMetrics(addr, d.reg, defaultMetricsLimits)
	if err != nil {
		return nil, err
	}
	return d.serveMetrics(ms, critical), nil
}

// serveMetrics runs ms as a part.
func (d *Daemon) serveMetrics(ms *metricsServer, critical bool) *metricsPart {
	return &metricsPart{srv: ms, part: d.parts.start(d.runCtx, "metrics", critical, func(ctx context.Context) error {
		// Closed when stopped, and the part ends once it is.
		defer ctxclose.OnDone(ctx, ms)()
		if err := ms.Serve(); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})}
}

// stopMetrics closes the metrics endpoint, if any.
func (d *Daemon) stopMetrics() {
	d.mu.Lock()
	p := d.metrics
	d.metrics = nil
	d.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

// moveMetrics serves the metrics on the address of nc, closing the old
// endpoint once the new one listens (or at once, when nc has none). A
// new address at the old one's port (one address where every address
// was, or the reverse) cannot be bound while the old endpoint listens:
// then the old endpoint closes first and, when the new address cannot
// be bound either, listens again on its own.
func (d *Daemon) moveMetrics(nc *config.Config) error {
	d.mu.Lock()
	cur := d.metrics
	d.mu.Unlock()
	if to := nc.MetricsListen; cur != nil && to.IsValid() && cur.srv.addr.Port() == to.Port() {
		return d.rebindMetrics(cur.srv.addr, to)
	}
	var next *metricsPart
	if nc.MetricsListen.IsValid() {
		p, err := d.startMetrics(nc.MetricsListen, false)
		if err != nil {
			return err
		}
		next = p
	}
	d.mu.Lock()
	prev := d.metrics
	d.metrics = next
	d.mu.Unlock()
	if prev != nil {
		prev.stop()
	}
	return nil
}

// rebindMetrics moves the metrics endpoint from old to to, an address at
// the same port: it closes the endpoint, then listens on to, or on old
// again when to cannot be bound.
func (d *Daemon) rebindMetrics(old, to netip.AddrPort) error {
	d.stopMetrics()
	next, err := d.startMetrics(to, false)
	if err != nil {
		back, againErr := d.startMetrics(old, false)
		if againErr != nil {
			return fmt.Errorf("%w; the endpoint on %s is closed: listening there again: %v", err, old, againErr)
		}
		next = back
	}
	d.mu.Lock()
	d.metrics = next
	d.mu.Unlock()
	return err
}

// removeStale removes the VIPs of cfg's instances that carry rmqlb's
// marker (Options.RemoveStale).
func (d *Daemon) removeStale(cfg *config.Config) error {
	if d.opt.RemoveStale != nil {
		return d.opt.RemoveStale(cfg, d.log)
	}
	return removeStale(cfg, d.log)
}

// removeStale removes the VIPs with rmqlb's marker that a killed daemon
// left: only this configuration's VIPs, each on its own interface, never
// another daemon's or an address someone added by hand.
func removeStale(cfg *config.Config, log *zap.Logger) error {
	removed, err := netsetup.RemoveStaleScoped(ConfigScope(cfg.VRRP), config.VIPLabel, log)
	if len(removed) > 0 {
		log.Info("removed stale VIPs of an earlier run", zap.Int("count", len(removed)))
	}
	return err
}

// backendIDs returns the IDs of the checked backends of listener l.
func backendIDs(l *config.Listener) []backend.ID {
	var ids []backend.ID
	for _, b := range l.Backends {
		if b.Check.Type != config.CheckNone {
			ids = append(ids, b.ID)
		}
	}
	return ids
}
