package balancer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
	"github.com/rmqlb/rmqlb/internal/logcount"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// ErrUnknownBackend is returned by SetBackendState and SetBackendWeight for
// a name that is not a backend of the listener.
var ErrUnknownBackend = errors.New("unknown backend")

// params are the data-path settings the loops read; replaced as a whole by
// Apply.
type params struct {
	maxConn        int64
	maxConnClient  int64        // Config.MaxConnPerClient
	lists          *clientLists // Config.AllowedClients and DeniedClients; nil: every client
	connectTimeout time.Duration
	idleTimeout    time.Duration // 0: off
	handshake      time.Duration // <= 0: off
	finTimeout     time.Duration // <= 0: off
	keepAlive      time.Duration
	userTimeout    time.Duration // 0: the kernel's default
	retries        int
	shutdownOnDown bool
	// shutdownBackupsOnUp is Config.ShutdownBackupsOnUp.
	shutdownBackupsOnUp bool
	logSessions         bool
}

// connOpts are the options p gives a listening socket.
func (p *params) connOpts() connOpts {
	return connOpts{keepAlive: p.keepAlive, userTimeout: p.userTimeout}
}

func paramsOf(c Config) *params {
	return &params{
		maxConn:             int64(c.MaxConn),
		maxConnClient:       int64(c.MaxConnPerClient),
		lists:               newClientLists(c.AllowedClients, c.DeniedClients),
		connectTimeout:      c.ConnectTimeout,
		idleTimeout:         c.IdleTimeout,
		handshake:           c.HandshakeTimeout,
		finTimeout:          c.FinTimeout,
		keepAlive:           c.KeepAlive,
		userTimeout:         c.TCPUserTimeout,
		retries:             c.Retries,
		shutdownOnDown:      c.ShutdownSessionsOnDown,
		shutdownBackupsOnUp: c.ShutdownBackupsOnUp,
		logSessions:         c.LogSessions,
	}
}

// Listener is one proxied VIP:port with its backends. Create it with
// NewListener and serve with Run. All methods are safe for concurrent use;
// SetBackendState, SetBackendWeight, Apply and Snapshot may be called
// before, during and after Run.
type Listener struct {
	log *zap.Logger
	// clock is the time of the balancing state (backend state changes,
	// persistence entries), of the persistence sweep and of the grace
	// period of Run: clock.Real{} by default, a clock.Fake in tests (set
	// before Run). The event loops time their sessions' deadlines (connect
	// and the session timeouts) with the real time of epoll_wait instead.
	clock     clock.Clock
	loopCount int // number of event loops set by tests; 0 = Config.Loops
	// dial starts a backend connection: dialSocket, or a test's.
	dial func(netip.AddrPort) (int, error)
	// holds is Config.Holds or the listener's own, set by Run before the
	// loops start.
	holds *Holds

	params atomic.Pointer[params]

	mu   sync.Mutex // guards the fields below and every backend's guarded fields
	cfg  Config     // with defaults applied
	pool pool
	// kept are the backends Apply removed whose sessions it kept and
	// which still had some at the last Apply: configured again with the
	// same name and address, such a backend comes back as the same
	// object, with its sessions counted for maxconn and leastconn.
	kept    []*backend
	sticky  *stickyTable // nil when persistence is off
	started bool         // Run was called
	loops   []*loop      // the event loops while Run runs, nil before and after
	// inherited is a listening socket handed over by another process
	// (Inherit), used by Run instead of a new one; -1 without.
	inherited int
	lnfd      int // the listening socket while Run serves, -1 otherwise

	addr  netip.AddrPort // bound address, set before ready is closed
	ready chan struct{}
	// closed is closed once Run has stopped accepting and closed the
	// listening socket (its sessions may still be draining).
	closed chan struct{}

	// draining is set by Run once every loop has stopped accepting; from
	// then on the session that brings active to 0 closes drained (once).
	draining    atomic.Bool
	drained     chan struct{}
	drainedOnce sync.Once
	// stopReason is the EndReason of the sessions a stop closes, set by
	// HandOver; EndUnknown (0) is EndStop (see stopEnd).
	stopReason atomic.Uint32

	active    atomic.Int64
	total     atomic.Uint64
	refused   atomic.Uint64
	noBackend atomic.Uint64
	// clients refused because their address held MaxConnPerClient
	// sessions
	refusedClient atomic.Uint64
	// clients refused because their address is in none of
	// Config.AllowedClients (refusedNotAllowed), or is in
	// Config.DeniedClients (refusedDenied)
	refusedNotAllowed atomic.Uint64
	refusedDenied     atomic.Uint64
	// notAllowedLog counts the clients refused for AllowedClients or
	// DeniedClients, logged at most every logcount.Every (loop time), so
	// that a scan of the port cannot flood the log; the loops take its
	// lock only to refuse such a client.
	notAllowedLog logcount.SyncCounter
	// clients counts each client address's sessions. Immutable pointer.
	clients *clientTable
	// clients refused for lack of file descriptors
	refusedFdLimit atomic.Uint64
	// clients refused because the host ran out of local ports or socket
	// memory for their backend connection
	refusedLocal atomic.Uint64
	// sessions closed by a session timeout
	handshakeTimeouts, finTimeouts, idleTimeouts atomic.Uint64
	// new client keys balanced without being pinned: the persistence
	// table was full (Config.PersistenceMaxClients)
	stickyFull atomic.Uint64
	// stickyFullLog counts the clients choose could not pin, logged at
	// most every logcount.Every (the listener's clock), so that a flood
	// of clients cannot flood the log. Guarded by mu.
	stickyFullLog logcount.Counter

	// epoch is the origin of the loops' times: a second before
	// NewListener, so that no loop time is 0. Immutable.
	epoch time.Time
}

// NewListener validates cfg, applies its defaults and returns a Listener
// that is not yet listening. logger may be nil (no logs); reg may be nil
// (no metrics), otherwise the listener's collector is registered on it.
func NewListener(cfg Config, logger *zap.Logger, reg prometheus.Registerer) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating listener config: %w", err)
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	cfg.Backends = slices.Clone(cfg.Backends)
	cfg.AllowedClients, cfg.DeniedClients = slices.Clone(cfg.AllowedClients), slices.Clone(cfg.DeniedClients)
	l := &Listener{
		log:       logger.With(zap.String("listener", cfg.Name)),
		clock:     clock.Real{},
		cfg:       cfg,
		ready:     make(chan struct{}),
		closed:    make(chan struct{}),
		drained:   make(chan struct{}),
		inherited: -1,
		lnfd:      -1,
		dial:      dialSocket,
		epoch:     time.Now().Add(-time.Second),
		clients:   newClientTable(),
	}
	l.params.Store(paramsOf(cfg))
	now := l.clock.Now()
	l.pool.policy, l.pool.allBackups = cfg.Policy, cfg.AllBackups
	for _, bc := range cfg.Backends {
		l.pool.backends = append(l.pool.backends, newBackend(bc, now))
	}
	if cfg.PersistenceTimeout > 0 {
		l.sticky = newStickyTable(cfg.PersistenceTimeout, cfg.PersistenceNetmask, cfg.PersistenceNetmask6, cfg.PersistenceMaxClients)
	}
	if reg != nil {
		if err := reg.Register(newCollector(l)); err != nil {
			return nil, fmt.Errorf("registering metrics of listener %q: %w", cfg.Name, err)
		}
	}
	return l, nil
}

// Ready returns a channel closed once Run has bound the listening socket.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Closed returns a channel closed once Run, stopping, has stopped
// accepting and closed the listening socket: the address can be bound
// again while the sessions drain. A Run that fails to bind never closes
// it.
func (l *Listener) Closed() <-chan struct{} { return l.closed }

// Addr returns the bound address (useful with port 0); valid once Ready is
// closed, the zero AddrPort before.
func (l *Listener) Addr() netip.AddrPort {
	select {
	case <-l.ready:
		return l.addr
	default:
		return netip.AddrPort{}
	}
}

// Run binds the listener (with IP_FREEBIND) and serves until ctx is
// cancelled. Then it stops accepting, lets sessions finish for up to
// GracefulTimeout (returning as soon as the last one ends), closes the rest
// and returns nil. It returns an error if binding fails or an event loop
// fails. Run may be called once.
func (l *Listener) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.started {
		l.mu.Unlock()
		return errors.New("running listener: Run was already called")
	}
	l.started = true
	bind, name, n := l.cfg.Bind, l.cfg.Name, l.cfg.Loops
	opts := l.params.Load().connOpts()
	l.mu.Unlock()

	lnfd, addr, err := l.listeningSocket(bind, opts)
	if err != nil {
		return fmt.Errorf("starting listener %q: %w", name, err)
	}
	if l.loopCount > 0 {
		n = l.loopCount
	}
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if l.holds = l.cfg.Holds; l.holds == nil {
		l.holds = NewHolds(runtime.GOMAXPROCS(0) - 1)
	}
	loops := make([]*loop, 0, n)
	for range n {
		lp, err := newLoop(l, lnfd, addr, opts)
		if err != nil {
			for _, o := range loops {
				o.closeFds()
			}
			unix.Close(lnfd)
			return fmt.Errorf("starting listener %q: %w", name, err)
		}
		loops = append(loops, lp)
	}
	l.addr = addr
	l.mu.Lock()
	l.loops = loops
	l.lnfd = lnfd
	l.mu.Unlock()
	close(l.ready)
	l.log.Info("listening", zap.Stringer("addr", addr), zap.Int("loops", n))

	errc := make(chan error, n)
	var wg sync.WaitGroup
	for _, lp := range loops {
		wg.Go(func() { errc <- lp.run() })
	}

	runErr := l.serve(ctx, errc)

	// Stop accepting on every loop, then close the listening socket.
	l.broadcast(loops, func(lp *loop) { lp.stopAccepting() })
	l.mu.Lock()
	l.lnfd = -1
	l.mu.Unlock()
	unix.Close(lnfd)
	l.draining.Store(true)
	close(l.closed)
	l.log.Info("stopped accepting", zap.Int64("active", l.active.Load()))

	if runErr == nil {
		runErr = l.drain(errc)
	}
	if a := l.active.Load(); a > 0 {
		l.log.Info("closing remaining sessions", zap.Int64("active", a))
	}
	for _, lp := range loops {
		lp.post(func(lp *loop) { lp.shutdown() })
	}
	wg.Wait()
	for _, lp := range loops {
		lp.closeFds()
	}
	l.mu.Lock()
	l.loops = nil
	l.mu.Unlock()
	if runErr != nil {
		return fmt.Errorf("running listener %q: %w", name, runErr)
	}
	return nil
}

// serve waits until ctx is cancelled (nil) or a loop fails (its error),
// sweeping expired persistence entries meanwhile.
func (l *Listener) serve(ctx context.Context, errc <-chan error) error {
	sweep := l.clock.NewTimer(l.sweepInterval())
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case <-sweep.C():
			l.mu.Lock()
			if l.sticky != nil {
				l.sticky.sweep(l.clock.Now())
			}
			l.mu.Unlock()
			sweep.Reset(l.sweepInterval())
		}
	}
}

// drain waits, once accepting has stopped, until the last session ends or
// GracefulTimeout passes, closing the sessions left over its last
// CloseSpread (see spreadCloses); it returns the error of a loop that
// fails meanwhile.
func (l *Listener) drain(errc <-chan error) error {
	l.mu.Lock()
	grace, spread := l.cfg.GracefulTimeout, min(l.cfg.CloseSpread, l.cfg.GracefulTimeout)
	l.mu.Unlock()
	if grace <= 0 || l.active.Load() == 0 {
		return nil
	}
	t := l.clock.NewTimer(grace - spread)
	defer t.Stop()
	select {
	case <-l.drained:
		return nil
	case <-t.C():
	case err := <-errc:
		return err
	}
	if spread <= 0 {
		return nil
	}
	return l.spreadCloses(spread, errc)
}

// sessionClosed gives back a session's active count; once Run drains, the
// last one signals drained.
func (l *Listener) sessionClosed() {
	if l.active.Add(-1) == 0 && l.draining.Load() {
		l.drainedOnce.Do(func() { close(l.drained) })
	}
}

// logOutside logs, after Apply changed Config.AllowedClients or
// DeniedClients to lists, the sessions kept of the client addresses the
// new lists refuse: a change applies to new connections only.
func (l *Listener) logOutside(lists *clientLists) {
	if lists == nil {
		return
	}
	cs := l.clients.summary(BusiestClientsListed, 0, lists)
	if cs.outside == 0 {
		return
	}
	addrs := make([]string, len(cs.busiestOutside))
	for i, c := range cs.busiestOutside {
		addrs[i] = c.Address.String()
	}
	l.log.Warn("allowed_clients or denied_clients changed: the sessions of client addresses they refuse now are kept (rmqlb sessions LISTENER --not-allowed lists them, with --shutdown closes them)",
		zap.Int("clients", cs.outside), zap.Strings("busiest", addrs))
}

// sweepInterval is how often expired persistence entries are deleted:
// half the persistence timeout, within 1 s..1 min.
func (l *Listener) sweepInterval() time.Duration {
	l.mu.Lock()
	d := l.cfg.PersistenceTimeout / 2
	l.mu.Unlock()
	return min(max(d, time.Second), time.Minute)
}

// broadcast runs fn on every loop and waits until all have run it (or the
// loop has exited).
func (l *Listener) broadcast(loops []*loop, fn func(*loop)) {
	var wg sync.WaitGroup
	for _, lp := range loops {
		wg.Add(1)
		if !lp.post(func(lp *loop) { fn(lp); wg.Done() }) {
			wg.Done()
		}
	}
	wg.Wait()
}

// Alive reports whether every event loop of the listener still runs its
// command queue: it posts a no-op to each loop and waits until all have
// run it, or until ctx is done; then the error names the loops that had
// not ("event loop 2 of 4 did not answer"). A loop's turn is bounded (a
// few reads per session, then the queue), so a loop that does not get
// to its queue for long is stuck: a deadlock, or a turn that never ends.
// A listener that does not run (before Run, or once Run has returned)
// answers nil at once, as does a loop that has exited (Run is stopping).
// The no-op stays queued on a loop that did not answer, and runs when it
// does. Safe from any goroutine; the daemon's watchdog calls it.
func (l *Listener) Alive(ctx context.Context) error {
	l.mu.Lock()
	loops := l.loops
	l.mu.Unlock()
	answered := make([]chan struct{}, len(loops))
	for i, lp := range loops {
		ch := make(chan struct{})
		answered[i] = ch
		if !lp.post(func(*loop) { close(ch) }) {
			close(ch)
		}
	}
	for _, ch := range answered {
		select {
		case <-ch:
			continue
		case <-ctx.Done():
		}
		break
	}
	var stuck []string
	for i, ch := range answered {
		select {
		case <-ch:
		default:
			stuck = append(stuck, strconv.Itoa(i+1))
		}
	}
	switch len(stuck) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("event loop %s of %d did not answer: %w", stuck[0], len(loops), context.Cause(ctx))
	default:
		return fmt.Errorf("event loops %s of %d did not answer: %w", strings.Join(stuck, ", "), len(loops), context.Cause(ctx))
	}
}

func (l *Listener) backendLocked(name string) *backend {
	for _, b := range l.pool.backends {
		if b.name == name {
			return b
		}
	}
	return nil
}

// takeKeptLocked returns the removed backend named name at addr whose
// sessions Apply kept, taking it off l.kept; nil if there is none.
func (l *Listener) takeKeptLocked(name string, addr netip.AddrPort) *backend {
	for i, b := range l.kept {
		if b.name == name && b.addr == addr {
			l.kept = slices.Delete(l.kept, i, i+1)
			return b
		}
	}
	return nil
}

// backendConfigLocked returns the configuration of backend name as the
// listener was last given it (the zero value for none).
func (l *Listener) backendConfigLocked(name string) BackendConfig {
	for _, bc := range l.cfg.Backends {
		if bc.Name == name {
			return bc
		}
	}
	return BackendConfig{}
}

// ShutdownSessions closes every current session of backend name now, as
// HAProxy's `shutdown sessions server` does: established ones are closed
// as on_marked_down closes them, and connections still being set up to it
// are closed too (not redispatched: the backend is not at fault). The
// backend's state and weight are not changed, so new clients may still
// be sent to it. It returns how many sessions it closed: 0 when the
// listener is not running.
//
// The backends that Apply removed while keeping their sessions
// (Snapshot's Removed) are found by their name too, so that their
// sessions can be closed without a reload: name closes the sessions of
// the backend configured by that name, if any, and of every removed
// backend listed by it.
func (l *Listener) ShutdownSessions(name string) (int, error) {
	if !l.HasBackend(name) {
		return 0, fmt.Errorf("shutting down sessions of backend %q: %w", name, ErrUnknownBackend)
	}
	// The sessions of that name are those of the backend and of the
	// removed ones listed by it. No deadline: every loop answers.
	return l.ShutdownSessionsMatching(context.Background(), SessionFilter{Backend: name})
}

// HasBackend reports whether the listener has a backend of that name:
// one configured by it, or one Apply removed whose sessions it still
// keeps (Snapshot's Removed). Safe from any goroutine.
func (l *Listener) HasBackend(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.backendLocked(name) != nil ||
		slices.ContainsFunc(l.kept, func(b *backend) bool { return b.name == name && b.active > 0 })
}

// Sending reports whether backend name wrote bytes to one of its clients
// within the last d (real time, as the event loops keep it: to the
// loop's last wake-up). A broker that keeps sending to its clients is
// working, however slow it is to answer one more connection. It is false
// for an unknown backend. Safe for concurrent use.
func (l *Listener) Sending(name string, d time.Duration) bool {
	l.mu.Lock()
	b := l.backendLocked(name)
	l.mu.Unlock()
	if b == nil {
		return false
	}
	at := time.Duration(b.sentAt.Load())
	return at != 0 && time.Since(l.epoch)-at <= d
}

// SetBackendState sets a backend's state, and reason why: a call that
// leaves the state as it is changes nothing, but for the reason of a
// backend not checked yet (its first check failed). Down and Maint stop new
// connections to it, forget its sticky clients and, if
// ShutdownSessionsOnDown, close its sessions now (connections still being
// set up are redispatched). Drain stops new connections and keeps sessions.
// Up and Degraded let it take connections again; an active backend that
// so starts to serve at a weight above 0 closes the sessions of the
// backup backends if ShutdownBackupsOnUp.
func (l *Listener) SetBackendState(name string, st rbackend.State, reason string) error {
	if !st.Valid() {
		return fmt.Errorf("setting state of backend %q: invalid state %d", name, uint8(st))
	}
	l.mu.Lock()
	b := l.backendLocked(name)
	if b == nil {
		l.mu.Unlock()
		return fmt.Errorf("setting state of backend %q: %w", name, ErrUnknownBackend)
	}
	old := b.state
	if old == st {
		if b.reason == notChecked && reason != "" {
			// The first check's result in the state the backend
			// started in (a first failure): the state, and when it
			// began, stay, but it has been checked.
			b.reason = reason
		}
		l.mu.Unlock()
		return nil
	}
	b.state = st
	b.since = l.clock.Now()
	b.reason = reason
	var shut []*backend // whose sessions to close, for why
	why := EndBackendDown
	if st.Removed() {
		if l.sticky != nil {
			l.sticky.forget(b)
		}
		if l.params.Load().shutdownOnDown {
			shut = append(shut, b)
		}
	}
	if !b.backup && !old.Serving() && st.Serving() && b.weight > 0 && !b.loops && l.params.Load().shutdownBackupsOnUp {
		for _, c := range l.pool.backends {
			if c.backup {
				shut = append(shut, c)
			}
		}
		why = EndBackupReplaced
	}
	loops := l.loops
	l.mu.Unlock()
	l.log.Info("backend state changed", zap.String("backend", name),
		zap.Stringer("from", old), zap.Stringer("to", st), zap.String("reason", reason))
	if len(shut) == 0 {
		return nil
	}
	if why == EndBackupReplaced {
		l.log.Info("closing the sessions of the backup backends: an active backend serves again (on_marked_up)", zap.String("backend", name))
	}
	for _, lp := range loops {
		lp.post(func(lp *loop) {
			for _, x := range shut {
				lp.shutdownBackend(x, why)
			}
		})
	}
	return nil
}

// SetBackendFull records whether the checks of a backend find its broker
// refusing new clients at its own connection limit (RabbitMQ's
// connection_max): while it does, the backend keeps its sessions and
// takes new connections only when no other backend could (see pick), and
// a persistent client's pin to it is not followed. Safe from any
// goroutine.
func (l *Listener) SetBackendFull(name string, full bool) error {
	l.mu.Lock()
	b := l.backendLocked(name)
	if b == nil {
		l.mu.Unlock()
		return fmt.Errorf("setting connection limit of backend %q: %w", name, ErrUnknownBackend)
	}
	was := b.brokerFull
	b.brokerFull = full
	l.mu.Unlock()
	switch {
	case full && !was:
		l.log.Info("backend's broker refuses new clients at its connection limit: new clients go to the other backends", zap.String("backend", name))
	case was && !full:
		l.log.Info("backend's broker takes new clients again", zap.String("backend", name))
	}
	return nil
}

// SetBackendWeightPercent sets the share (1..100) of its weight a backend
// gets: a health checker's slow start. The share outlives changes of the
// weight (Apply, SetBackendWeight). Every policy honours it, at any weight
// above 0: wrr and leastconn scale the weight by it, roundrobin picks by
// the shares while one is below 100.
func (l *Listener) SetBackendWeightPercent(name string, percent int) error {
	if percent < 1 || percent > 100 {
		return fmt.Errorf("setting weight share of backend %q: %d is outside 1..100", name, percent)
	}
	return l.setWeight(name, "setting weight share", func(b *backend) { b.percent = percent })
}

// SetBackendWeight overrides a backend's configured weight at run time:
// the operator's weight (0 drains: no new connections, sessions kept).
// The override stays until ResetBackendWeight, or until Apply is given a
// changed configuration for that backend (any of its settings): the
// file's new values then win. Existing sessions are kept.
func (l *Listener) SetBackendWeight(name string, weight int) error {
	if weight < 0 || weight > MaxWeight {
		return fmt.Errorf("setting weight of backend %q: %d is outside 0..%d", name, weight, MaxWeight)
	}
	return l.setWeight(name, "setting weight", func(b *backend) { b.weight, b.override = weight, true })
}

// ResetBackendWeight drops the operator's weight of a backend (see
// SetBackendWeight): its configured weight applies again.
func (l *Listener) ResetBackendWeight(name string) error {
	return l.setWeight(name, "resetting weight", func(b *backend) { b.weight, b.override = b.cfgWeight, false })
}

// setWeight runs set on backend name under l.mu, restarting the smooth wrr
// sequence when the weight in effect changes (not when the slow-start
// share does: smooth wrr follows a change of weight without it).
func (l *Listener) setWeight(name, doing string, set func(*backend)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.backendLocked(name)
	if b == nil {
		return fmt.Errorf("%s of backend %q: %w", doing, name, ErrUnknownBackend)
	}
	was := b.weight
	set(b)
	if b.weight != was {
		l.pool.restart()
	}
	return nil
}

// Apply reloads the configuration without dropping the sessions of the
// backends that stay: backends are added (a Checked one starts Down until
// its checker says otherwise), removed (their sessions are closed now if
// the new configuration has ShutdownSessionsOnDown, and so are those an
// earlier Apply kept of backends it removed; else they stay until they
// end, listed by Snapshot's Removed) or updated (weight, maxconn, PROXY setting; a changed address
// applies to new connections), and policy, persistence, timeouts, retries
// and maxconn take effect for new connections. A backend removed with its
// sessions kept that a later Apply configures again with the same name
// and address comes back with the sessions it still has, counted against
// its maxconn and by leastconn; in all else it starts as an added backend
// does. Backend states and weight
// shares set at run time are kept, and so is an operator's weight
// (SetBackendWeight) unless cfg changes that backend. Bind cannot change
// once Run was called.
func (l *Listener) Apply(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("validating listener config: %w", err)
	}
	cfg = cfg.withDefaults()
	cfg.Backends = slices.Clone(cfg.Backends)
	cfg.AllowedClients, cfg.DeniedClients = slices.Clone(cfg.AllowedClients), slices.Clone(cfg.DeniedClients)
	l.mu.Lock()
	if cfg.Bind != l.cfg.Bind && l.started {
		l.mu.Unlock()
		return fmt.Errorf("applying config of listener %q: bind cannot change from %s to %s while running", l.cfg.Name, l.cfg.Bind, cfg.Bind)
	}
	if cfg.Name != l.cfg.Name {
		l.mu.Unlock()
		return fmt.Errorf("applying config of listener %q: name cannot change to %q", l.cfg.Name, cfg.Name)
	}
	now := l.clock.Now()
	keep := make(map[string]bool, len(cfg.Backends))
	l.kept = slices.DeleteFunc(l.kept, func(b *backend) bool { return b.active == 0 })
	was := l.pool.members()
	var next []*backend
	for _, bc := range cfg.Backends {
		keep[bc.Name] = true
		b := l.backendLocked(bc.Name)
		if b == nil {
			b = l.takeKeptLocked(bc.Name, bc.Address)
		}
		switch {
		case b == nil:
			b = newBackend(bc, now)
		case b.removed:
			b.configure(bc, now)
		default:
			if b.override && l.backendConfigLocked(bc.Name) != bc {
				b.override = false
				l.log.Info("operator weight dropped: the configuration changed the backend",
					zap.String("backend", bc.Name), zap.Int("weight", bc.Weight))
			}
			b.addr, b.maxConn, b.proxy, b.cfgWeight, b.backup = bc.Address, bc.MaxConn, bc.ProxyProtocol, bc.Weight, bc.Backup
			b.loops = false // its address is tried again
			if !b.override {
				b.weight = bc.Weight
			}
		}
		next = append(next, b)
	}
	shut := cfg.ShutdownSessionsOnDown && l.loops != nil
	var gone []*backend
	for _, b := range l.pool.backends {
		if !keep[b.name] {
			b.removed, b.removedAt = true, now
			gone = append(gone, b)
			if l.sticky != nil {
				l.sticky.forget(b)
			}
			if !shut && b.active > 0 {
				l.kept = append(l.kept, b)
			}
		}
	}
	// The policy's place in its sequence is kept across a reload that
	// changes neither the backends nor their weights: restarting it at
	// every reload would give the first backends more than their share.
	if l.pool.backends = next; cfg.Policy != l.pool.policy || !slices.Equal(was, l.pool.members()) {
		l.pool.policy = cfg.Policy
		l.pool.restart()
	}
	l.pool.allBackups = cfg.AllBackups
	switch {
	case l.sticky != nil && keepsPersistence(l.cfg, cfg):
		l.sticky.setTimeout(cfg.PersistenceTimeout, now)
		l.sticky.maxKeys = cfg.PersistenceMaxClients
	default:
		if l.sticky != nil {
			l.sticky.retire()
			l.sticky = nil
		}
		if cfg.PersistenceTimeout > 0 {
			l.sticky = newStickyTable(cfg.PersistenceTimeout, cfg.PersistenceNetmask, cfg.PersistenceNetmask6, cfg.PersistenceMaxClients)
		}
	}
	listChanged := !slices.Equal(l.cfg.AllowedClients, cfg.AllowedClients) || !slices.Equal(l.cfg.DeniedClients, cfg.DeniedClients)
	l.cfg = cfg
	p := paramsOf(cfg)
	l.params.Store(p)
	// Backends removed earlier with their sessions kept are removed under
	// this configuration too: when it shuts the sessions of removed
	// backends, theirs are shut as well.
	var earlier []*backend
	if shut {
		earlier, l.kept = l.kept, nil
	}
	var loops []*loop
	if shut && len(gone)+len(earlier) > 0 {
		loops = l.loops
	}
	l.mu.Unlock()
	if listChanged {
		l.logOutside(p.lists)
	}
	for _, b := range gone {
		l.log.Info("backend removed", zap.String("backend", b.name), zap.Bool("sessions_closed", loops != nil))
	}
	for _, b := range earlier {
		l.log.Info("closing the kept sessions of a removed backend", zap.String("backend", b.name),
			zap.Stringer("address", b.addr))
	}
	for _, b := range slices.Concat(gone, earlier) {
		for _, lp := range loops {
			lp.post(func(lp *loop) { lp.shutdownBackend(b, EndBackendRemoved) })
		}
	}
	return nil
}

// target is the outcome of one backend choice.
type target struct {
	be    *backend
	addr  netip.AddrPort
	proxy proxyproto.Version
}

// choose picks a backend for a connection attempt of client, honouring
// persistence (*entry is set on the session's first choice: &noPin when
// the persistence table had no room for the client) and skipping the
// backends in tried. The chosen backend's active count is raised; the
// caller must give it back with attemptFailed or sessionEnded. If no
// backend is usable, t.be is nil and full tells whether that is because of
// maxconn.
func (l *Listener) choose(client netip.Addr, entry **stickyEntry, tried []*backend) (t target, full bool) {
	var skip func(*backend) bool
	if len(tried) > 0 {
		skip = func(b *backend) bool { return slices.Contains(tried, b) }
	}
	l.mu.Lock()
	var b *backend
	unpinned := 0 // clients not pinned to log now
	if l.sticky != nil {
		e := *entry
		if e == nil {
			now := l.clock.Now()
			e = l.sticky.acquire(l.sticky.key(client), now)
			*entry = e
			if e == &noPin {
				unpinned = l.countUnpinned(now)
			}
		}
		switch {
		case e == &noPin:
			b, full = l.pool.pick(skip)
		case e.be != nil && l.pool.eligible(e.be, skip):
			b = e.be
		default:
			if b, full = l.pool.pick(skip); b != nil {
				e.be = b
			}
		}
	} else {
		b, full = l.pool.pick(skip)
	}
	if b != nil {
		b.active++
		t = target{be: b, addr: b.addr, proxy: b.proxy}
		full = false
	}
	maxKeys := l.cfg.PersistenceMaxClients
	l.mu.Unlock()
	if unpinned > 0 {
		l.log.Warn("persistence table full: new clients balanced without being pinned (logged at most every 10s)",
			zap.Int("clients", unpinned), zap.Int("persistence_max_clients", maxKeys))
	}
	return t, full
}

// countUnpinned counts a new client key the persistence table had no room
// for, at now, and returns how many such clients to log now (0: not yet).
// l.mu must be held.
func (l *Listener) countUnpinned(now time.Time) int {
	l.stickyFull.Add(1)
	n, _ := l.stickyFullLog.Count(now)
	return n
}

// attemptFailed gives back the active count of a failed connect to b, and
// unpins the session's client (e may be nil) from b: its next connection
// picks again, instead of being sent to a broker that refuses it for as
// long as the client keeps coming back (each session's end extends the
// pin) when no health check takes b out.
func (l *Listener) attemptFailed(b *backend, e *stickyEntry) {
	b.fails.Add(1)
	l.mu.Lock()
	b.active--
	if e != nil && e != &noPin && e.be == b {
		e.be = nil
	}
	l.mu.Unlock()
}

// loopedBack records that a connection to b reached this listener itself
// and reports whether that is news (the first since b was configured).
func (l *Listener) loopedBack(b *backend) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := !b.loops
	b.loops = true
	return first
}

// sessionEnded gives back b's active count (b may be nil) and the
// session's persistence reference (e may be nil).
func (l *Listener) sessionEnded(b *backend, e *stickyEntry) {
	if b == nil && e == nil {
		return
	}
	l.mu.Lock()
	if b != nil {
		b.active--
	}
	if e != nil && e != &noPin {
		e.t.release(e, l.clock.Now())
	}
	l.mu.Unlock()
}

// stickyCount returns the number of persistence entries (tests).
func (l *Listener) stickyCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sticky == nil {
		return 0
	}
	return l.sticky.len()
}
