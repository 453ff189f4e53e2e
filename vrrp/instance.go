package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// Owner is what an Instance drives when it becomes MASTER (Acquire: add the
// VIPs, send gratuitous ARP) and when it stops being MASTER (Release:
// remove them). Package netsetup implements it.
//
// Calls come from one goroutine, never concurrently, with a context that
// times out after Options.OwnerTimeout on the instance's clock. Acquire may be called again while
// acquired (the instance became MASTER again): it should then re-announce.
type Owner interface {
	Acquire(ctx context.Context) error
	Release(ctx context.Context) error
}

// FaultReporter is implemented by an Owner that watches the addresses it
// holds (netsetup.VIPSet does). Run calls ReportFaults once, before it
// starts the machine (the registration outlives Run, harmlessly), with a function that is safe to call from any
// goroutine at any time and returns at once: the owner calls it with a
// non-nil error when it cannot hold the addresses (adding one failed, or
// putting back one that disappeared), and with nil once it could hold
// them again. Meanwhile the instance is in FAULT: a MASTER sends a
// priority-0 advertisement, so that a backup takes over after Skew_Time,
// and releases the addresses; it starts again as at startup once the
// owner reports nil (see SetOwnerFault).
type FaultReporter interface {
	ReportFaults(report func(err error))
}

// DefaultOwnerTimeout bounds each Owner call when Options.OwnerTimeout is 0.
const DefaultOwnerTimeout = 5 * time.Second

// Options are the collaborators of an Instance. Every field is optional.
type Options struct {
	// Transport sends and receives adverts. Nil means an IPv4Transport
	// opened by Run from the Config; Run then also watches the link of
	// Config.Interface with WatchLink and goes to FAULT while it is down.
	// Run closes the Transport when it returns, also one passed in here.
	Transport Transport
	// Owner acquires and releases the VIPs. Nil means none: state changes
	// are only logged.
	Owner Owner
	// Clock is the time source. Nil means the real clock. With an
	// IPv4Transport the loop waits on the socket with deadlines in real
	// time (the clock's durations to the machine's deadlines): a fake
	// clock there drives the machine's notion of now, not the wake-ups.
	Clock Clock
	// Logger gets a line for every state change. Nil means zap.NewNop().
	Logger *zap.Logger
	// Registerer receives the instance's metrics, labelled
	// vrrp_instance=Config.Name. Nil means no metrics.
	Registerer prometheus.Registerer
	// OwnerTimeout bounds each Owner call. Zero means DefaultOwnerTimeout.
	OwnerTimeout time.Duration
	// RealTimePriority, when 1..99, runs the instance's event loop (with
	// the real transport only: Transport nil) on an OS thread of its own
	// in the SCHED_FIFO scheduling class at that priority: the kernel
	// wakes it for every advert to send (while an AdvertSender sends them,
	// only every AdvertSender.AliveWithin) and every advert received,
	// ahead of every process of normal priority. It needs CAP_SYS_NICE (or an
	// RLIMIT_RTPRIO that allows the priority); without it the loop runs
	// on its own thread at normal priority, and Snapshot.RealTime says
	// why. Zero: off (the Go runtime schedules the loop like any other
	// goroutine). Other values are refused by NewInstance.
	RealTimePriority int
	// OnTransition, when set, is called with every state change, in the
	// order they happen, from Run's goroutine once the change is logged;
	// the change to INIT when Run stops is the last. It must return at
	// once (queue the work, never wait for it): the state machine waits
	// for it. Nil: none.
	OnTransition func(StateChange)
	// Sender, when set, sends the periodic adverts of a MASTER instead of
	// the instance (with the real transport only: one whose socket it can
	// send on); see AdvertSender. Nil: the instance sends them itself.
	Sender AdvertSender
}

// Instance is one running VRRP virtual router: it drives a Machine from a
// Transport and a Clock, and an Owner from the Machine's actions.
//
// Run owns all goroutines of the instance and must be called at most once.
// SetPriorityAdjust, SetLinkUp, StepDown, Ready, Update, Alive and Snapshot are
// safe from any goroutine, at any time, before, during and after Run.
type Instance struct {
	cfg          Config
	opt          Options
	clock        Clock
	log          *zap.Logger
	metrics      *metrics
	ownerTimeout time.Duration
	allowed      map[netip.Addr]bool // adverts accepted only from these; nil = any
	notify       chan struct{}       // cap 1: desired adjust/link changed
	begun        chan struct{}       // closed once Run runs the machine

	mu          sync.Mutex // guards the fields below
	m           *Machine   // stepped only by Run, under mu
	counters    Counters
	adjust      int   // desired priority adjustment
	linkUp      bool  // desired link state
	linkIndex   int   // interface index the link watch reports; 0 = unknown
	ownerFault  error // desired: why the owner cannot hold the VIPs; nil = it can
	src         netip.Addr
	dests       []netip.Addr
	quiet       bool     // StopQuietly was called: Run ends without Shutdown
	adopt       Adoption // Adopt's: Run carries on from it; zero: none
	started     bool
	warnedFor   map[string]bool  // drop reasons already logged at warn level
	refused     RefusedAdvert    // the last refused advert of our VRID; Count 0: none
	lowerMaster LowerMasterHeard // the last lower-priority master heard; Count 0: none
	sendFail    SendFailure      // the run of failed sends; Failed 0: none
	// recentTransitions holds the latest state changes between BACKUP,
	// MASTER and FAULT (see transitioned).
	recentTransitions []Transition
	// rebindFailing: the last attempt to follow a re-created interface
	// failed.
	rebindFailing bool
	// notReady says why Run, which opens the real transport itself, cannot
	// open it yet (its interface does not exist, or has no IPv4 address):
	// the machine is in FAULT for it meanwhile. "" once it is open, and
	// with another transport.
	notReady string
	// announced: addresses announced and not yet stepped, each with
	// who announced it last (true: our Owner, false: another host).
	announced map[netip.Addr]bool
	// releaseWant is the pending StepDown or Ready (nil: none) and
	// releaseWaiters the channels to close once it is applied.
	releaseWant    *releaseReq
	releaseWaiters []chan struct{}
	// aliveWaiters are the channels of Alive requests, closed by Run's
	// loop when it next applies the desired state.
	aliveWaiters []chan struct{}
	ended        bool   // Run returned
	realTime     string // how the real-time loop is scheduled; "" = not running
	// quieted: the Owner was told StopAnnouncing, and not
	// ResumeAnnouncing since. Owned by Run's goroutine.
	quieted bool
	// lowerLogged is when a LowerMaster was last logged at info level.
	// Owned by Run's goroutine.
	lowerLogged time.Time
	cfgWant     *Config // settings given to Update, not applied yet

	// Owned by Run's goroutine: reused on every advert sent or received,
	// so that neither allocates.
	acts []Action // the actions of the step being performed
	// wakeFD is the eventfd the real-time loop waits on (kick writes it),
	// -1 when that loop does not run; wakeConn is the receiving socket
	// the polled loop waits on (kick sets kicked and moves the socket's
	// read deadline to the past), nil when that loop does not run. Both
	// guarded by wakeMu; kicked is read and cleared by the polled loop.
	wakeMu   sync.Mutex
	wakeFD   int
	wakeConn deadlineWaker
	kicked   atomic.Bool
	rx, tx   Packet // the advert received, the advert sent
	txBuf    []byte // the marshaled advert
	snd      senderState
}

// NewInstance validates cfg and returns an Instance in INIT. Nothing runs
// and no socket is opened until Run.
func NewInstance(cfg Config, opt Options) (*Instance, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := CheckRealTimePriority(opt.RealTimePriority); err != nil {
		return nil, fmt.Errorf("real-time priority: %w", err)
	}
	cfg.UnicastPeers = slices.Clone(cfg.UnicastPeers)
	cfg.AllowedPeers = slices.Clone(cfg.AllowedPeers)
	cfg.VIPs = slices.Clone(cfg.VIPs)
	i := &Instance{
		cfg:          cfg,
		opt:          opt,
		clock:        opt.Clock,
		log:          opt.Logger,
		ownerTimeout: opt.OwnerTimeout,
		notify:       make(chan struct{}, 1),
		begun:        make(chan struct{}),
		wakeFD:       -1,
		linkUp:       true,
		warnedFor:    map[string]bool{},
		counters:     Counters{Dropped: map[string]uint64{}},
	}
	if i.clock == nil {
		i.clock = clock.Real{}
	}
	if i.log == nil {
		i.log = zap.NewNop()
	}
	i.log = i.log.With(zap.String("vrrp_instance", cfg.Name), zap.Uint8("vrid", cfg.VRID))
	if i.ownerTimeout <= 0 {
		i.ownerTimeout = DefaultOwnerTimeout
	}
	i.allowed = cfg.allowList()
	var err error
	if i.metrics, err = newMetrics(opt.Registerer, cfg.Name); err != nil {
		return nil, fmt.Errorf("registering metrics of VRRP instance %q: %w", cfg.Name, err)
	}
	primary := cfg.UnicastSrc
	if opt.Transport != nil {
		primary = opt.Transport.Source()
	}
	i.m = NewMachine(cfg, primary)
	i.metrics.set(StateInit, i.m.EffectivePriority())
	return i, nil
}

// SetPriorityAdjust sets the priority adjustment (sum of the weights of
// failing tracked checks). The effective priority is Config.Priority +
// delta clamped to 1..254 (255 is never adjusted); a MASTER advertises a
// change at once.
func (i *Instance) SetPriorityAdjust(delta int) {
	i.mu.Lock()
	i.adjust = delta
	i.mu.Unlock()
	i.kick()
}

// SetLinkUp reports the interface link state: false puts the instance in
// FAULT (releasing the VIPs if MASTER), true lets it start again. Run
// watches the link itself when it opened the real transport
// (Options.Transport nil), and then also follows the interface when it is
// deleted and created again under a new index.
func (i *Instance) SetLinkUp(up bool) {
	i.mu.Lock()
	i.linkUp = up
	i.mu.Unlock()
	i.kick()
}

// SetOwnerFault reports whether the VIPs can be held: a non-nil err puts
// the instance in FAULT (a MASTER sends priority 0 and releases them), nil
// lets it start again. Run registers it with an Owner that implements
// FaultReporter; it is safe from any goroutine and never blocks.
func (i *Instance) SetOwnerFault(err error) {
	i.mu.Lock()
	begins := err != nil && i.ownerFault == nil
	if begins {
		i.counters.OwnerFaults++
	}
	i.ownerFault = err
	i.mu.Unlock()
	if begins {
		i.metrics.inc(func(m *metrics) prometheus.Counter { return m.ownerFaults })
	}
	i.kick()
}

func (i *Instance) kick() {
	select {
	case i.notify <- struct{}{}:
	default:
	}
	i.wakeRealTime()
	i.wakePolled()
}

// Adopt makes Run carry on from a, the state of the process this one
// succeeds on the same host (an upgrade in place; see Startup.Adopt and
// Adoption): StateMaster starts the instance MASTER at once, without the
// master down wait, since its VIPs are on the interface; StateBackup
// starts it as usual, but for the master its predecessor heard. Either
// way the first change is marked Adopted (the daemon runs no notify hook
// for it), and the state keeps its predecessor's since and reason. Call
// it before Run; it fails once Run has started, and for other states.
func (i *Instance) Adopt(a Adoption) error {
	if a.State != StateMaster && a.State != StateBackup {
		return fmt.Errorf("adopting state %v: only MASTER or BACKUP carry on", a.State)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.started {
		return errors.New("adopting state: the instance runs already")
	}
	i.adopt = a
	return nil
}

// StopQuietly makes Run, once its context is done, end without the
// Shutdown step when the process that succeeds this one (an upgrade) can
// carry the state on (see Adopt): a MASTER that is not released keeps its
// VIPs and sends no priority-0 advert, and a BACKUP that holds no VIP
// stays BACKUP; no state change either way. In any other state (a BACKUP
// still holding the VIPs it yielded, FAULT, a released MASTER) Run shuts
// down as usual, so that no VIP is left without an owner, and Snapshot
// then says INIT. Call it before cancelling Run's context.
func (i *Instance) StopQuietly() {
	i.mu.Lock()
	i.quiet = true
	i.mu.Unlock()
}

// Snapshot returns a copy of the instance's state and counters.
func (i *Instance) Snapshot() Snapshot {
	i.mu.Lock()
	defer i.mu.Unlock()
	m := i.m
	released, releasedUntil := m.Released()
	releasedSince, releaseReason := m.ReleasedSince()
	return Snapshot{
		Name:                i.cfg.Name,
		Interface:           i.cfg.Interface,
		VRID:                i.cfg.VRID,
		Version:             i.cfg.Version,
		State:               m.State(),
		ConfiguredPriority:  i.cfg.Priority,
		EffectivePriority:   m.EffectivePriority(),
		PriorityAdjust:      m.PriorityAdjust(),
		AdvertInterval:      i.cfg.AdvertInterval,
		MasterAdverInterval: m.MasterAdverInterval(),
		MaxAdoptedInterval:  i.cfg.maxAdopted(),
		Preempt:             i.cfg.Preempt,
		PreemptDelay:        i.cfg.PreemptDelay,
		Source:              i.src,
		Destinations:        slices.Clone(i.dests),
		AllowedPeers:        i.allowedList(),
		Checksum:            i.cfg.Checksum,
		VIPs:                slices.Clone(i.cfg.VIPs),
		LinkUp:              m.LinkUp(),
		OwnerFault:          m.OwnerFault(),
		Released:            released,
		ReleasedSince:       releasedSince,
		ReleasedUntil:       releasedUntil,
		ReleaseReason:       releaseReason,
		Handover:            m.LastHandover(),
		Master:              m.Master(),
		Since:               m.Since(),
		Reason:              m.Reason(),
		Refused:             i.refusedSnapshot(),
		LowerMaster:         i.lowerMasterSnapshot(),
		SendFailing:         i.sendFailureSnapshot(),
		Conflict:            m.LastConflict(),
		Differing:           m.LastDiffering(),
		Counters:            i.counters.clone(),
		RecentTransitions:   slices.Clone(i.recentTransitions),
		RealTime:            i.realTime,
		Sender:              i.senderDescription(),
	}
}

// allowedList returns the allow-list as Snapshot reports it.
func (i *Instance) allowedList() []netip.Addr {
	if len(i.cfg.AllowedPeers) > 0 {
		return slices.Clone(i.cfg.AllowedPeers)
	}
	return slices.Clone(i.cfg.UnicastPeers)
}

// received is one packet handed from the read loop to Run.
type received struct {
	b    []byte
	info RecvInfo
}

// Started returns a channel closed once Run runs the machine (it has
// left INIT): with its transport (given one, or once it opened the
// sockets on the instance's interface, Options.Transport nil), or in
// FAULT while it waits for the interface to be ready (see Run). Run
// returns an error without closing it when the sockets cannot be opened
// for any other reason (no permission). Safe from any goroutine.
func (i *Instance) Started() <-chan struct{} { return i.begun }

// Run runs the instance until ctx is done or the transport fails. On
// return a MASTER has sent a priority-0 advertisement (so a backup takes
// over after Skew_Time) and released the VIPs; the transport is closed and
// every goroutine started by Run has exited (except an Owner call that
// ignores its context's deadline). Run returns nil when ctx is done.
//
// When Run opens the real transport and the interface is not ready (it
// does not exist, or has no IPv4 address to send adverts from:
// ErrInterfaceNotReady), the instance starts in FAULT, with that as its
// reason, and Run tries again every notReadyRetry until the interface is
// ready; it then leaves FAULT as when a link comes up. Any other error
// opening the sockets ends Run at once.
func (i *Instance) Run(ctx context.Context) error {
	i.mu.Lock()
	if i.started {
		i.mu.Unlock()
		return errors.New("running VRRP instance: Run called twice")
	}
	i.started = true
	adopt := i.adopt
	i.mu.Unlock()

	tr := i.opt.Transport
	ownTransport := tr == nil
	var own *IPv4Transport // the real transport Run opened, nil otherwise
	if ownTransport {
		t, err := i.openTransport()
		if err != nil && !errors.Is(err, ErrInterfaceNotReady) {
			return fmt.Errorf("running VRRP instance %q: %w", i.cfg.Name, err)
		}
		if err != nil {
			i.waitingFor(err)
			tr = noTransport{}
		} else {
			tr, own = t, t
			i.useTransport(t)
		}
	} else {
		i.useTransport(tr)
	}

	if fr, ok := i.opt.Owner.(FaultReporter); ok {
		fr.ReportFaults(i.SetOwnerFault)
	}
	if ar, ok := i.opt.Owner.(AnnounceReporter); ok {
		ar.ReportAnnouncements(i.announcedBy)
		i.mu.Lock()
		i.m.WatchAnnouncements()
		i.mu.Unlock()
	}
	defer i.endRequests()
	// The owner loop: applies Acquire/Release requests in order, one at a
	// time, each bounded by ownerTimeout, so the state machine never
	// waits for the owner.
	ow := newOwnerWorker(i, context.WithoutCancel(ctx), adopt.State == StateMaster)
	go ow.run()

	i.mu.Lock()
	adjust, link, fault, notReady := i.adjust, i.linkUp, i.ownerFault, i.notReady
	i.mu.Unlock()
	i.step(tr, ow, SetPriorityAdjust{Delta: adjust})
	if !link || notReady != "" {
		i.step(tr, ow, LinkDown{Reason: notReady})
	}
	if fault != nil {
		i.step(tr, ow, OwnerFault{Err: fault})
	}
	i.applyConfig(tr, ow)
	i.applyRelease(tr, ow)
	where := []zap.Field{zap.Stringer("source", i.src), zap.Stringers("destinations", i.dests)}
	if notReady != "" {
		where = []zap.Field{zap.String("waiting_for_interface", notReady)}
	}
	i.log.Info("starting VRRP instance", append([]zap.Field{
		zap.String("interface", i.cfg.Interface), zap.Int("version", i.cfg.Version),
		zap.Uint8("priority", i.cfg.Priority), zap.Duration("advert_interval", i.cfg.AdvertInterval)},
		where...)...)
	i.step(tr, ow, Startup{Adopt: adopt})
	close(i.begun) // the machine has left INIT: BACKUP, MASTER or FAULT
	if ownTransport && own == nil {
		if own = i.awaitInterface(ctx, ow); own != nil {
			tr = own
		}
	}

	// The link watcher (real transport only) and the read loop.
	watchCtx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	watchDone := i.startLinkWatch(watchCtx, own != nil)
	// With a real transport, the loop reads the socket itself: with a
	// real-time priority (on the transport Run opened) on a thread of its
	// own that waits for adverts and timers in the kernel (runRealTime),
	// else in the runtime's poller (runPolled). With another transport a
	// read loop hands packets to runLoop; with none (ctx was done while
	// the interface was not ready) no loop runs.
	polled, _ := tr.(*IPv4Transport)
	realTime := own != nil && i.opt.RealTimePriority > 0
	var rd *reader
	var netns *os.File
	if realTime {
		netns = threadNetns()
		defer netns.Close()
	} else if polled == nil && !ownTransport {
		rd = startReader(tr)
	}

	var runErr error
	switch {
	case ownTransport && own == nil:
		// Stopped while the interface was not ready.
	case realTime:
		runErr = i.runRealTime(ctx, own, ow, netns)
		if errors.Is(runErr, errRealTimeSetup) {
			i.log.Warn("VRRP loop runs as an ordinary goroutine", zap.Error(runErr))
			i.mu.Lock()
			i.realTime = "normal priority: " + runErr.Error()
			i.mu.Unlock()
			runErr = i.runPolled(ctx, own, own, ow)
		}
	case polled != nil:
		runErr = i.runPolled(ctx, polled, own, ow)
	default:
		runErr = i.runLoop(ctx, tr, ow, own, rd)
	}
	if runErr != nil {
		runErr = fmt.Errorf("running VRRP instance %q: %w", i.cfg.Name, runErr)
		i.log.Error("VRRP transport failed", zap.Error(runErr))
	}

	i.mu.Lock()
	quiet, st := i.quiet, i.m.State()
	released, _ := i.m.Released()
	lingering := i.m.lingering()
	i.mu.Unlock()
	switch {
	case quiet && (st == StateMaster && !released || st == StateBackup && !lingering):
		// Handed over: the successor carries on (a master advertises on
		// and holds the VIPs); no priority 0, no release, no state
		// change.
		i.log.Info("stopping quietly: the process that took over carries on", zap.Stringer("state", st))
	case quiet:
		i.log.Info("stopping as usual for the process that takes over: not a master it can carry on", zap.Stringer("state", st))
		i.step(tr, ow, Shutdown{})
	default:
		i.step(tr, ow, Shutdown{})
	}
	// A quiet stop has no step that stops the advert sender.
	i.stopSender()
	ow.stop()
	// The pending call and the final Release each take at most
	// ownerTimeout, unless the Owner ignores its context.
	giveUp := i.clock.NewTimer(2*i.ownerTimeout + time.Second)
	select {
	case <-ow.done:
	case <-giveUp.C():
		i.log.Error("VIP owner did not return in time; leaving it behind")
	}
	giveUp.Stop()
	if rd != nil {
		close(rd.stop)
	}
	tr.Close()
	if rd != nil {
		<-rd.done
	}
	cancelWatch()
	<-watchDone
	i.log.Info("stopped VRRP instance")
	return runErr
}

// runLoop is Run's event loop with the read loop rd, until ctx is done
// (nil) or the transport fails (its error). Timers are the clock's.
func (i *Instance) runLoop(ctx context.Context, tr Transport, ow *ownerWorker, own *IPv4Transport, rd *reader) error {
	timer := i.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	// retry re-runs applyDesired while the transport cannot follow a
	// re-created interface yet (e.g. it has no address so far).
	retry := i.clock.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		i.armWake(timer)
		select {
		case <-ctx.Done():
			return nil
		case err := <-rd.err:
			return err
		case r := <-rd.packets:
			i.receive(tr, ow, r)
			rd.handled(r)
		case <-timer.C():
			// select picks at random among ready cases: an advert that
			// arrived with the timer must be seen first, or a backup
			// whose master-down timer fires at that moment would take
			// over for one advert interval.
		drain:
			for {
				select {
				case r := <-rd.packets:
					i.receive(tr, ow, r)
					rd.handled(r)
				default:
					break drain
				}
			}
			// Adverts still in the socket, which the read loop has not
			// read yet (the process was stalled), come first too.
			i.readQueued(ctx, tr, ow, rd)
			i.step(tr, ow, Tick{})
		case <-i.notify:
			if i.applyDesired(tr, ow, own) {
				retry.Reset(i.cfg.AdvertInterval)
			}
		case <-retry.C():
			if i.applyDesired(tr, ow, own) {
				retry.Reset(i.cfg.AdvertInterval)
			}
		}
	}
}

// armWake arms timer at the machine's next wake-up (see nextWake), or
// stops it when there is none. It is armed at the deadline itself, not
// after a duration: the time may move on while the deadline is worked out.
func (i *Instance) armWake(timer Timer) {
	if deadline, ok, _, _ := i.nextWake(); ok {
		timer.ResetAt(deadline)
	} else {
		timer.Stop()
	}
}

// pendingReader is implemented by a Transport that can tell whether a
// packet waits to be read. runLoop runs with transports other than
// IPv4Transport (whose loop reads its socket itself); of those, only the
// package's test transports can tell.
type pendingReader interface {
	pending() bool
}

// readQueued handles, before an expired timer is acted on, the adverts
// waiting in tr's socket that the read loop rd has not handed over yet:
// it waits for rd to read them (at most rtReadBatch, so that a flood does
// not keep the timer from firing). It stops early when the transport
// failed (runLoop then returns its error) or ctx is done.
func (i *Instance) readQueued(ctx context.Context, tr Transport, ow *ownerWorker, rd *reader) {
	pr, ok := tr.(pendingReader)
	if !ok {
		return
	}
	for range rtReadBatch {
		if !pr.pending() {
			return
		}
		select {
		case r := <-rd.packets:
			i.receive(tr, ow, r)
			rd.handled(r)
		case err := <-rd.err:
			rd.err <- err // for runLoop's select
			return
		case <-ctx.Done():
			return
		}
	}
}

// applyDesired steps the machine towards the desired priority adjustment,
// owner fault and link state. The link counts as up only once the real
// transport (own, nil for another one) is bound to the interface the link
// watch reports; while it cannot be, applyDesired returns true: call it
// again an advertisement interval later. While the interface is not ready
// (notReady) the link counts as down, for that reason.
func (i *Instance) applyDesired(tr Transport, ow *ownerWorker, own *IPv4Transport) (retry bool) {
	i.mu.Lock()
	adjust, up, index, fault, notReady := i.adjust, i.linkUp, i.linkIndex, i.ownerFault, i.notReady
	curAdjust, curUp, curFault, curDown := i.m.PriorityAdjust(), i.m.LinkUp(), i.m.OwnerFault(), i.m.linkDown
	i.mu.Unlock()
	i.applyConfig(tr, ow)
	if adjust != curAdjust {
		i.step(tr, ow, SetPriorityAdjust{Delta: adjust})
	}
	i.applyRelease(tr, ow)
	i.stepAnnounced(tr, ow)
	switch {
	case fault != nil && curFault != (OwnerFault{Err: fault}).reason():
		i.step(tr, ow, OwnerFault{Err: fault})
	case fault == nil && curFault != "":
		i.step(tr, ow, OwnerRecovered{})
	}
	if notReady != "" {
		up = false
	} else if !i.follow(own, index) {
		up = false
		retry = true
	}
	switch {
	case up && !curUp:
		i.step(tr, ow, LinkUp{})
	case !up && (curUp || curDown != notReady):
		i.step(tr, ow, LinkDown{Reason: notReady})
	}
	i.answerAlive()
	return retry
}

// reader is the read loop of Run: it hands packets to Run until the
// transport fails or is closed (err gets the error, done is closed) or stop
// is closed while it waits for Run. Its buffers go round: Run gives each
// one back on free once it has handled the packet in it, so that reading
// allocates nothing.
type reader struct {
	packets chan received
	free    chan []byte
	err     chan error
	stop    chan struct{}
	done    chan struct{}
}

// readerDepth is how many packets the read loop holds for Run.
const readerDepth = 64

func startReader(tr Transport) *reader {
	r := &reader{packets: make(chan received, readerDepth), free: make(chan []byte, readerDepth+1),
		err: make(chan error, 1), stop: make(chan struct{}), done: make(chan struct{})}
	for range readerDepth + 1 {
		r.free <- make([]byte, 1500)
	}
	go func() {
		defer close(r.done)
		for {
			var b []byte
			select {
			case b = <-r.free:
			case <-r.stop:
				return
			}
			n, info, err := tr.ReadFrom(b[:cap(b)])
			if err != nil {
				r.err <- err
				return
			}
			select {
			case r.packets <- received{b: b[:n], info: info}:
			case <-r.stop:
				return
			}
		}
	}()
	return r
}

// handled gives the buffer of a packet Run has handled back to the read
// loop.
func (r *reader) handled(p received) {
	select {
	case r.free <- p.b:
	default:
	}
}

// step feeds ev to the machine and performs the resulting actions.
func (i *Instance) step(tr Transport, ow *ownerWorker, ev Event) {
	now := i.clock.Now()
	i.mu.Lock()
	var due time.Time // when the PeriodicAdvert this step sends was due
	if _, ok := ev.(Tick); ok {
		due = i.m.advertDue(now)
	}
	wasReleased, _ := i.m.Released()
	acts := i.m.StepInto(now, ev, i.acts)
	i.acts = acts[:0]
	released, _ := i.m.Released()
	// A state change is counted and kept under the same lock as the
	// step, so that no Snapshot shows the new state without it.
	for _, a := range acts {
		if c, ok := a.(StateChange); ok {
			i.counters.Transitions++
			i.transitioned(c, now)
		}
	}
	state, prio := i.m.State(), i.m.EffectivePriority()
	i.mu.Unlock()
	i.metrics.set(state, prio)
	if _, ready := ev.(Ready); wasReleased && !released && !ready {
		// A release for a period (rmqlb vrrp release --for) ran out; a
		// Ready is logged where it is asked for.
		i.log.Info("VRRP instance release ended", zap.String("reason", "its period ran out"),
			zap.String("state", state.String()), zap.Uint8("effective_priority", prio))
	}
	// The advert sender learns of the step before its actions happen.
	i.syncSender(tr, now)
	var stopped bool // a StopAnnouncing was done: AnnouncingStopped follows
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			i.send(tr, a.Priority)
		case PeriodicAdvert:
			// The sender's, while it sends.
			if i.senderSends() {
				i.snd.sent = true
				continue
			}
			// While the sender sent them, the loop stepped the advert
			// timer late, when it woke anyway: the first advert it
			// sends itself again has no delay worth recording.
			if !i.snd.sent && !due.IsZero() {
				i.metrics.sendDelay(now.Sub(due))
			}
			i.snd.sent = false
			i.send(tr, a.Priority)
		case Acquire:
			if i.quieted {
				// MASTER again after giving way: announce again.
				i.opt.Owner.(Quieter).ResumeAnnouncing()
				i.quieted = false
			}
			ow.request(true)
		case LowerMaster:
			i.mu.Lock()
			// A run goes on while each comes within two master down
			// intervals of the last (the machine reports one per
			// interval at most).
			since := i.lowerMaster.Since
			if i.lowerMaster.Count == 0 || now.Sub(i.lowerMaster.At) > 2*i.m.MasterDownInterval() {
				since = now
			}
			i.lowerMaster = LowerMasterHeard{From: a.From, Priority: a.Priority, At: now, Since: since, Count: i.lowerMaster.Count + 1}
			i.mu.Unlock()
			i.metrics.inc(func(m *metrics) prometheus.Counter { return m.lowerMasters })
			lvl := zap.DebugLevel // while it goes on: once a minute at info
			if now.Sub(i.lowerLogged) >= time.Minute {
				lvl, i.lowerLogged = zap.InfoLevel, now
			}
			i.log.Log(lvl, "a router of lower priority advertises as MASTER: it did not hear this MASTER's adverts; answering with an advert and announcing the VIPs again",
				zap.Stringer("from", a.From), zap.Uint8("priority", a.Priority))
			if i.opt.Sender != nil && i.snd.on {
				// Adverts lost on the way, or never sent: the
				// sender shows soon that it sends, or is replaced.
				i.opt.Sender.Check()
			}
		case Release:
			// quieted stays: the worker may merge this Release away
			// (nothing held yet) and the owner stay quiet, so the next
			// Acquire resumes all the same.
			ow.request(false)
		case StateChange:
			i.metrics.inc(func(m *metrics) prometheus.Counter { return m.transitions })
			if a.isRoleChange() {
				i.metrics.inc(func(m *metrics) prometheus.Counter { return m.roleChanges })
			}
			i.log.Info("VRRP state change",
				zap.Stringer("from", a.From), zap.Stringer("to", a.To), zap.String("reason", a.Reason),
				zap.Uint8("effective_priority", prio))
			if i.opt.OnTransition != nil {
				i.opt.OnTransition(a)
			}
		case Drop:
			if a.Peer {
				i.refuse(a.Err, a.From, a.Priority, a.Interval)
			} else {
				i.drop(a.Err)
			}
		case IntervalClamped:
			i.clamped(a)
		case AddrsDiffer:
			i.addrsDiffer(a)
		case HandoverDone:
			i.handedOver(a.Info)
		case ConflictHeard:
			i.log.Warn("another host announced a VIP of this MASTER and did not take over: it holds the address too, and clients that heard it send their packets there",
				zap.Stringer("vip", a.Info.Addr), zap.Time("heard", a.Info.At), zap.Uint64("conflicts", a.Info.Count))
			i.metrics.inc(func(m *metrics) prometheus.Counter { return m.conflicts })
		case StopAnnouncing:
			if q, ok := i.opt.Owner.(Quieter); ok {
				q.StopAnnouncing()
				i.quieted = true
			}
			stopped = true
		}
	}
	if stopped {
		// The Owner's announcements up to its StopAnnouncing, then
		// whether the new master announced after them.
		i.stepAnnounced(tr, ow)
		i.step(tr, ow, AnnouncingStopped{})
	}
}

// waitingWriter is implemented by a Transport that can wait for room in
// its send buffer (IPv4Transport).
type waitingWriter interface {
	WriteToWaiting(b []byte, dst netip.Addr, wait time.Duration) error
}

// resignWait is the most a priority-0 advert waits for room in a full
// send buffer: one advert interval, at most a second. The backups take
// over after Master_Down_Interval (more than three intervals) without it.
func resignWait(interval time.Duration) time.Duration {
	return min(interval, time.Second)
}

// send sends one advert with priority prio to every destination. It
// allocates nothing once its buffers have grown to the advert's size. A
// priority-0 advert (a master that stops or resigns, so that a backup
// takes over within Skew_Time) that finds the send buffer full waits for
// room, at most resignWait; any other is dropped and counted then (the
// next one follows an interval later).
func (i *Instance) send(tr Transport, prio uint8) {
	i.fillAdvert(prio)
	src := tr.Source().Unmap()
	ww, _ := tr.(waitingWriter)
	// i.dests is written by this goroutine only.
	allSent := true
	for _, dst := range i.dests {
		b, err := i.tx.AppendMarshal(i.txBuf[:0], src, dst, i.cfg.Checksum)
		i.txBuf = b[:0]
		if err == nil {
			if prio == 0 && ww != nil {
				err = ww.WriteToWaiting(b, dst, resignWait(i.cfg.AdvertInterval))
			} else {
				err = tr.WriteTo(b, dst)
			}
		}
		i.mu.Lock()
		first := false
		if err != nil {
			i.counters.SendErrors++
			first = i.sendFailed(i.clock.Now(), dst, err, 1)
		} else {
			i.counters.AdvertsSent++
		}
		i.mu.Unlock()
		if err != nil {
			allSent = false
			i.metrics.inc(func(m *metrics) prometheus.Counter { return m.sendErrors })
			if first {
				i.logSendFailed(dst, err, "instance")
			}
			continue
		}
		i.metrics.inc(func(m *metrics) prometheus.Counter { return m.sent })
	}
	if allSent {
		i.mu.Lock()
		ended := i.sendSucceeded()
		i.mu.Unlock()
		i.logSendsAgain(ended)
	}
}

// fillAdvert sets i.tx to the advert with priority prio, reusing its
// address list.
func (i *Instance) fillAdvert(prio uint8) {
	authType, authData := i.cfg.auth()
	addrs := i.tx.Addrs[:0]
	for _, v := range i.cfg.VIPs {
		addrs = append(addrs, v.Addr().Unmap())
	}
	i.tx = Packet{
		Version:        i.cfg.Version,
		VRID:           i.cfg.VRID,
		Priority:       prio,
		AdvertInterval: i.cfg.AdvertInterval,
		AuthType:       authType,
		AuthData:       authData,
		Addrs:          addrs,
	}
}

// receive checks and parses one received packet and feeds it to the machine.
func (i *Instance) receive(tr Transport, ow *ownerWorker, r received) {
	i.mu.Lock()
	i.counters.AdvertsReceived++
	i.mu.Unlock()
	i.metrics.inc(func(m *metrics) prometheus.Counter { return m.received })
	src := r.info.Src.Unmap()
	// The TTL of 255 RFC 5798 section 7.1 wants shows that no router
	// forwarded the advert. A unicast peer may be a router away, or be a
	// keepalived with unicast_ttl: with unicast peers, as keepalived
	// does, any TTL is accepted (the source is checked against them).
	if len(i.cfg.UnicastPeers) == 0 {
		if err := CheckTTL(r.info.TTL); err != nil {
			i.drop(fmt.Errorf("checking advert from %v: TTL %d: %w", src, r.info.TTL, err))
			return
		}
	}
	if src == tr.Source().Unmap() {
		i.drop(fmt.Errorf("checking advert from %v: %w", src, ErrOwnPacket))
		return
	}
	if i.allowed != nil && !i.allowed[src] {
		// Kept as refused only when it is a valid advert of our VRID:
		// any other packet from a stranger is just dropped.
		err := fmt.Errorf("checking advert from %v: %w", src, ErrNotPeer)
		if ParseInto(&i.rx, r.b, src, r.info.Dst) == nil && i.rx.VRID == i.cfg.VRID {
			i.refuse(err, src, i.rx.Priority, i.rx.AdvertInterval)
		} else {
			i.drop(err)
		}
		return
	}
	if err := ParseInto(&i.rx, r.b, src, r.info.Dst); err != nil {
		i.drop(fmt.Errorf("checking advert from %v: %w", src, err))
		return
	}
	i.step(tr, ow, Advert{Src: src, Packet: &i.rx})
}

// clamped counts and logs an advertised interval that was not adopted
// because it exceeds Config.MaxAdoptedInterval.
func (i *Instance) clamped(a IntervalClamped) {
	i.mu.Lock()
	i.counters.IntervalClamped++
	first := !i.warnedFor[warnClamped]
	i.warnedFor[warnClamped] = true
	i.mu.Unlock()
	i.metrics.inc(func(m *metrics) prometheus.Counter { return m.intervalClamped })
	lvl := zap.DebugLevel
	if first {
		lvl = zap.WarnLevel
	}
	i.log.Log(lvl, "master advertises a longer interval than max_adopted_advert_interval; using the maximum (further clampings are logged at debug level)",
		zap.Stringer("master", a.From), zap.Duration("advertised", a.Advertised), zap.Duration("used", a.Used))
}

// addrsDiffer counts an advert accepted with a differing address list
// (see DifferingAddrs), and logs it when its sender or list is new.
func (i *Instance) addrsDiffer(a AddrsDiffer) {
	i.metrics.inc(func(m *metrics) prometheus.Counter { return m.differing })
	if a.New {
		i.log.Warn("accepting adverts whose addresses differ from this instance's virtual_ipaddress, as they share some: the hosts of the group should list the same VIPs (a reload that changes them not yet made on every host?)",
			zap.Stringer("from", a.Info.From), zap.Uint8("priority", a.Info.Priority), zap.Any("addresses", a.Info.Addrs))
	}
}

// warnClamped is the key of Instance.warnedFor for interval clampings.
const warnClamped = "interval_clamped"

// refuse counts and logs a dropped advert of the instance's VRID from
// another router (see RefusedAdvert), and keeps it as the last one.
func (i *Instance) refuse(err error, from netip.Addr, prio uint8, interval time.Duration) {
	i.mu.Lock()
	n := i.refused.Count + 1
	i.refused = RefusedAdvert{From: from, Priority: prio, AdvertInterval: interval, Reason: DropReason(err), At: i.clock.Now(), Count: n}
	i.mu.Unlock()
	i.drop(err, zap.Stringer("from", from), zap.Uint8("priority", prio))
}

// refusedSnapshot returns the last refused advert, nil if none. The
// caller holds i.mu.
func (i *Instance) refusedSnapshot() *RefusedAdvert {
	if i.refused.Count == 0 {
		return nil
	}
	r := i.refused
	return &r
}

// lowerMasterSnapshot returns the last lower-priority master heard, nil
// if none. The caller holds i.mu.
func (i *Instance) lowerMasterSnapshot() *LowerMasterHeard {
	if i.lowerMaster.Count == 0 {
		return nil
	}
	l := i.lowerMaster
	return &l
}

// drop counts and logs a dropped packet, with fields added to the log
// line.
func (i *Instance) drop(err error, fields ...zap.Field) {
	reason := DropReason(err)
	i.mu.Lock()
	i.counters.Dropped[reason]++
	first := !i.warnedFor[reason]
	i.warnedFor[reason] = true
	i.mu.Unlock()
	i.metrics.drop(reason)
	// Adverts of other virtual routers are normal on a shared segment.
	if first && reason != DropVRID {
		i.log.Warn("dropping VRRP advert (further drops for this reason are logged at debug level)",
			append(fields, zap.String("reason", reason), zap.Error(err))...)
	} else {
		i.log.Debug("dropping VRRP advert", append(fields, zap.String("reason", reason), zap.Error(err))...)
	}
}
