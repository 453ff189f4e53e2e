package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
)

// Options configure a Scheduler. The zero value is usable.
type Options struct {
	// Clock is the time source of the schedule and of the checks' timeouts (a check's
	// context is done when Clock reaches its deadline). Nil: the system clock.
	Clock Clock
	// Logger receives a debug line per state change and per update (the
	// subscriber that applies a change logs it at info). Nil: no logging.
	Logger *zap.Logger
	// Jitter returns a random duration in [0, max) for the first check of a backend. Nil:
	// math/rand/v2. Tests make it deterministic.
	Jitter func(max time.Duration) time.Duration
	// Metrics, when non-nil, receives the scheduler's metrics (see NewMetrics).
	Metrics *Metrics
	// Traffic, when non-nil, reports whether backend id sent bytes to the clients proxied to
	// it within the last d. The scheduler asks it when a check times out: a backend that is
	// still sending is busy, not frozen (Result.Busy, CheckConfig.BusyGrace). It is called
	// from the checks' goroutines, without the scheduler's lock held. Nil: every timeout is
	// a failure.
	Traffic func(id backend.ID, d time.Duration) bool
}

// Scheduler runs the checks of a set of backends and publishes their state changes.
//
// Backends are added, updated and removed at any time, before or while Run runs (a reload);
// subscribers too. Snapshot, State, SetAdmin and Checked are safe at any time from any
// goroutine. Subscribers are called one at a time, in order, from the scheduler's goroutines
// and from the goroutine calling SetAdmin or Subscribe; they must not block for long and must
// not call back into the Scheduler except Snapshot and State.
type Scheduler struct {
	clock   Clock
	log     *zap.Logger
	jitter  func(time.Duration) time.Duration
	met     *Metrics
	traffic func(backend.ID, time.Duration) bool
	wake    chan struct{} // cap 1: the set of backends changed

	mu       sync.Mutex // guards the fields below
	backends map[backend.ID]*entry
	order    []backend.ID
	started  bool
	subs     []*subscriber
	pending  map[backend.ID]bool // backends of the start without a first result yet
	checked  chan struct{}       // closed when pending is empty after start
	// published is closed once Run has given every subscriber the
	// initial states.
	published chan struct{}
	// aliveWaiters are the channels of Alive requests, closed by Run's
	// loop at its next turn; ended is set when Run returns.
	aliveWaiters []chan struct{}
	ended        bool

	// emitMu serialises calls of subscribers. Whoever changes a backend's state takes it
	// before mu and keeps it until its events are delivered, so that subscribers get events
	// in the order the states changed (an operator's MAINT is never overtaken by the UP of a
	// check observed just before it). Lock order: emitMu, then mu.
	emitMu sync.Mutex
}

// entry is one backend of the scheduler. A running check's result is taken only while its entry
// is still the one in the map (Remove and a later Add make a new entry).
type entry struct {
	m       *Machine
	checker Checker
	delay   time.Duration // start-up jitter of the first check, counted from Run
	running bool
	// login is what the backend's latest conclusive check showed of its login, and
	// refusedSince when its current run of refused logins began (the first of its passes
	// with Result.Refused since a result of another kind, or since its login changed);
	// zero outside such a run. See refusedAloneLocked.
	login        loginSeen
	refusedSince time.Time
	aloneMetric  bool // the value of rmqlb_healthcheck_login_refused_alone set for it
}

type subscriber struct{ fn func(Event) }

// NewScheduler returns a scheduler without backends.
func NewScheduler(o Options) *Scheduler {
	s := &Scheduler{clock: o.Clock, log: o.Logger, jitter: o.Jitter, met: o.Metrics, traffic: o.Traffic,
		wake: make(chan struct{}, 1), backends: map[backend.ID]*entry{},
		pending: map[backend.ID]bool{}, checked: make(chan struct{}), published: make(chan struct{})}
	if s.clock == nil {
		s.clock = SystemClock{}
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.jitter == nil {
		s.jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max)
		}
	}
	return s
}

// ErrUnknownBackend is returned for a backend that was never added (or was removed).
var ErrUnknownBackend = errors.New("unknown backend")

// Add registers backend id with its schedule and checker. Before Run the backend's first check
// is due at a random part of StartJitter after Run starts; during Run, after that much from
// now, and subscribers learn of it at once (DOWN, "not checked yet").
func (s *Scheduler) Add(id backend.ID, cfg CheckConfig, c Checker) error {
	return s.add(id, cfg, c, nil)
}

// AddServing is Add for a backend that is in service already (a reload gave
// a check to a backend that had none): it starts UP, "check added while in
// service", and leaves service only when fall checks fail, as if it had been
// checked all along, so that adding a check never drops its sessions.
func (s *Scheduler) AddServing(id backend.ID, cfg CheckConfig, c Checker) error {
	return s.add(id, cfg, c, &Inherited{Health: backend.Up, Reason: "check added while in service"})
}

// Inherited is what the process this one succeeds (an upgrade in place)
// knew of a backend: the scheduler carries on from it instead of starting
// from "not checked yet".
type Inherited struct {
	// Health is Up, Degraded or Down (anything else counts as Down).
	Health backend.State
	// Reason is why it is in that state; empty: "not checked yet".
	Reason string
	// Admin is the operator's state (AdminNone: none).
	Admin backend.Admin
	// Downs is how many times its checks took it DOWN (BackendStatus.Downs), and DownsAgo
	// how long ago the latest of them were, oldest first (BackendStatus.RecentDowns).
	Downs    uint64
	DownsAgo []time.Duration
	// Full is set when its broker was at its own connection limit (BackendStatus.Full);
	// it counts only with a serving Health.
	Full bool
}

// AddInherited is Add for a backend whose state the process this one
// succeeds hands over: a serving one starts serving, as with AddServing,
// and leaves service only when fall checks fail; one that was DOWN starts
// DOWN with the predecessor's reason; the operator's state is kept. The
// first check is scheduled as with Add.
func (s *Scheduler) AddInherited(id backend.ID, cfg CheckConfig, c Checker, in Inherited) error {
	return s.add(id, cfg, c, &in)
}

func (s *Scheduler) add(id backend.ID, cfg CheckConfig, c Checker, from *Inherited) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("adding backend %s: %w", id, err)
	}
	if c == nil {
		return fmt.Errorf("adding backend %s: nil checker", id)
	}
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.mu.Lock()
	if _, ok := s.backends[id]; ok {
		s.mu.Unlock()
		return fmt.Errorf("adding backend %s: duplicate name", id)
	}
	cfg = cfg.WithDefaults()
	var delay time.Duration
	if cfg.StartJitter > 0 {
		delay = s.jitter(cfg.StartJitter)
	}
	now := s.clock.Now()
	e := &entry{m: NewMachine(id, cfg, now, delay), checker: c, delay: delay}
	if from != nil {
		if from.Health.Serving() {
			e.m.health, e.m.everUp, e.m.full = from.Health, true, from.Full
		}
		if from.Reason != "" {
			e.m.reason = from.Reason
		}
		e.m.admin = from.Admin
		e.m.downs = from.Downs
		for _, ago := range from.DownsAgo[max(0, len(from.DownsAgo)-RecentDownsKept):] {
			e.m.recentDowns = append(e.m.recentDowns, now.Add(-ago))
		}
	}
	s.backends[id] = e
	s.order = append(s.order, id)
	s.met.add(id)
	started := s.started
	if !started {
		s.pending[id] = true
	}
	ev := currentEvent(e.m, now)
	s.mu.Unlock()
	if started {
		s.emitLocked([]Event{ev})
		s.kick()
	}
	return nil
}

// Update replaces the schedule and checker of backend id and keeps its state (see
// Machine.SetConfig): a backend whose check settings change on reload stays in service. A check
// running at the time finishes and counts.
func (s *Scheduler) Update(id backend.ID, cfg CheckConfig, c Checker) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("updating backend %s: %w", id, err)
	}
	if c == nil {
		return fmt.Errorf("updating backend %s: nil checker", id)
	}
	s.mu.Lock()
	e, ok := s.backends[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("updating backend %s: %w", id, ErrUnknownBackend)
	}
	e.m.SetConfig(s.clock.Now(), cfg)
	old := e.checker
	e.checker = c
	s.mu.Unlock()
	if old != c {
		closeChecker(old)
	}
	s.kick()
	return nil
}

// closeChecker closes c when it keeps something between checks (see Checker). A check of c
// may still be running: closing is the Checker's business to make safe.
func closeChecker(c Checker) {
	if cl, ok := c.(io.Closer); ok {
		cl.Close()
	}
}

// Remove stops checking backend id and forgets it; a check running at the time is abandoned
// (it still ends by its timeout). Subscribers get no event: whoever removes a backend tells its
// consumers.
func (s *Scheduler) Remove(id backend.ID) error {
	s.mu.Lock()
	e, ok := s.backends[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("removing backend %s: %w", id, ErrUnknownBackend)
	}
	defer closeChecker(e.checker)
	delete(s.backends, id)
	for i, o := range s.order {
		if o == id {
			s.order = append(s.order[:i:i], s.order[i+1:]...)
			break
		}
	}
	last := s.firstResultLocked(id)
	s.met.forget(id)
	s.refusedAloneMetricsLocked(id.Listener)
	s.mu.Unlock()
	if last {
		close(s.checked)
	}
	s.kick()
	return nil
}

// Subscribe adds fn to the receivers of events and returns a function that removes it. When the
// scheduler is running, fn first receives the current state of every backend (as events with
// State equal to Prev), so that a subscriber added by a reload starts from the truth.
func (s *Scheduler) Subscribe(fn func(Event)) (cancel func()) {
	sub := &subscriber{fn: fn}
	s.emitMu.Lock()
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	var current []Event
	if s.started {
		now := s.clock.Now()
		for _, id := range s.order {
			current = append(current, currentEvent(s.backends[id].m, now))
		}
	}
	s.mu.Unlock()
	for _, e := range current {
		fn(e)
	}
	s.emitMu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, o := range s.subs {
			if o == sub {
				s.subs = append(s.subs[:i:i], s.subs[i+1:]...)
				return
			}
		}
	}
}

// SetAdmin sets the operator state of backend id (AdminNone clears it).
func (s *Scheduler) SetAdmin(id backend.ID, a backend.Admin) error {
	return s.SetAdminNoted(id, a, "")
}

// SetAdminNoted is SetAdmin with a note on how the operator's state came,
// added to the reason of the state change (Machine.SetAdminNoted).
func (s *Scheduler) SetAdminNoted(id backend.ID, a backend.Admin, note string) error {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.mu.Lock()
	e, ok := s.backends[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("setting admin state of %s: %w", id, ErrUnknownBackend)
	}
	ev := e.m.SetAdminNoted(s.clock.Now(), a, note)
	s.mu.Unlock()
	s.emitLocked(ev)
	return nil
}

// Checked returns a channel closed once every backend added before Run has completed its first
// check (or was removed), and the subscribers have been given its result. The daemon starts
// VRRP only then.
func (s *Scheduler) Checked() <-chan struct{} { return s.checked }

// Published returns a channel closed once Run has given every subscriber
// the initial state of every backend (what Add, AddServing or
// AddInherited set): a tracker fed by the scheduler knows them then.
func (s *Scheduler) Published() <-chan struct{} { return s.published }

// Snapshot is the status of every backend, in the order they were added.
type Snapshot struct {
	Backends []BackendStatus `json:"backends"`
}

// Snapshot returns the status of every backend.
func (s *Scheduler) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Snapshot{Backends: make([]BackendStatus, 0, len(s.order))}
	logins := map[string][]LoginCheck{} // by listener, for passedAlikeLocked
	for _, id := range s.order {
		e := s.backends[id]
		b := e.m.Status()
		b.RefusedAlone = s.passedAlikeLocked(e, logins)
		out.Backends = append(out.Backends, b)
	}
	return out
}

// State returns the effective state of backend id; ok is false for an unknown backend.
func (s *Scheduler) State(id backend.ID) (st backend.State, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.backends[id]
	if !ok {
		return 0, false
	}
	return e.m.State(), true
}

// Names returns the backends in the order they were added.
func (s *Scheduler) Names() []backend.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]backend.ID(nil), s.order...)
}

type result struct {
	e       *entry
	r       Result
	latency time.Duration
	login   string // the CheckConfig.Login the check ran with
}

// Run runs the checks until ctx is done, then waits for running checks to return, closes the
// checkers that keep something between checks (see Checker) and returns nil. It first publishes the initial state (DOWN, "not checked yet") of every backend. Run
// must be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	s.emitMu.Lock()
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		s.emitMu.Unlock()
		return errors.New("running health checks: already running")
	}
	s.started = true
	var initial []Event
	now := s.clock.Now()
	for _, id := range s.order {
		e := s.backends[id]
		m := e.m
		m.due, m.since = now.Add(e.delay), now // jitter counts from Run, not from Add
		initial = append(initial, currentEvent(m, now))
	}
	if len(s.pending) == 0 {
		close(s.checked)
	}
	s.mu.Unlock()
	s.emitLocked(initial)
	s.emitMu.Unlock()
	close(s.published)

	results := make(chan result)
	var wg sync.WaitGroup
	defer wg.Wait()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var timer Timer // armed for the next due check or slow-start step; nil until needed
	var timerC <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	defer s.answerAlive(true)
	for {
		s.emitMu.Lock()
		now := s.clock.Now()
		next, events := s.startDue(cctx, &wg, now, results)
		s.emitLocked(events)
		s.emitMu.Unlock()
		s.answerAlive(false)

		// The timer is armed at next itself, which the time may have
		// reached while startDue ran: then it fires at once.
		switch {
		case next.IsZero() && timer != nil:
			timer.Stop()
		case next.IsZero():
		case timer == nil:
			timer = s.clock.NewTimerAt(next)
			timerC = timer.C()
		default:
			timer.ResetAt(next)
		}
		select {
		case <-ctx.Done():
			cancel()
			// Drain results so that check goroutines can exit; wg.Wait in the defer.
			go func() {
				wg.Wait()
				close(results)
			}()
			for range results {
			}
			s.mu.Lock()
			var checkers []Checker
			for _, e := range s.backends {
				checkers = append(checkers, e.checker)
			}
			s.mu.Unlock()
			for _, c := range checkers {
				closeChecker(c)
			}
			return nil
		case <-timerC:
		case <-s.wake:
		case res := <-results:
			s.observe(res)
		}
	}
}

// startDue advances slow start and starts the checks that are due at now; it returns the
// events to publish and when the loop must wake next (zero: only on a result or a change).
func (s *Scheduler) startDue(ctx context.Context, wg *sync.WaitGroup, now time.Time, results chan<- result) (next time.Time, events []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, id := range s.order {
		e := s.backends[id]
		if t := e.m.NextTick(); !t.IsZero() && !t.After(now) {
			events = append(events, e.m.Tick(now)...)
		}
		earlier(e.m.NextTick())
		if e.running {
			continue
		}
		if due := e.m.Due(); due.After(now) {
			earlier(due)
			continue
		}
		e.running = true
		late := e.m.Begin(now)
		timeout := e.m.Config().Timeout
		if late < timeout/2 { // a check started much too late still gets half its time
			timeout -= late
		} else {
			timeout /= 2
		}
		wg.Add(1)
		go s.check(ctx, wg, e, timeout, results)
	}
	return next, events
}

// check runs one check with its timeout, on the scheduler's clock, and sends the result.
func (s *Scheduler) check(ctx context.Context, wg *sync.WaitGroup, e *entry, timeout time.Duration, out chan<- result) {
	defer wg.Done()
	s.mu.Lock()
	c, login := e.checker, e.m.cfg.Login
	s.mu.Unlock()
	start := s.clock.Now()
	cctx, cancel := clock.WithTimeout(ctx, s.clock, timeout)
	r := c.Check(cctx)
	timedOut := r.Err != nil && !r.Inconclusive && ctx.Err() == nil && (cctx.Err() != nil || isTimeout(r.Err))
	cancel()
	lat := s.clock.Now().Sub(start)
	// A backend that sent to its clients in the second half of the check's time is
	// working; the bytes a frozen one had in flight arrive at once.
	if timedOut && s.traffic != nil {
		r.Busy = s.traffic(e.m.id, timeout/2)
	}
	select {
	case out <- result{e: e, r: r, latency: lat, login: login}:
	case <-ctx.Done():
	}
}

func (s *Scheduler) observe(res result) {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.mu.Lock()
	e := res.e
	e.running = false
	id := e.m.id
	if s.backends[id] != e {
		s.mu.Unlock() // removed while its check ran
		return
	}
	wasBusy, wasInconclusive, downs := e.m.busySince, e.m.inconclusiveSince, e.m.downs
	at := s.clock.Now()
	res.r = s.refusedAloneLocked(e, res.r, res.login, at)
	ev := e.m.Observe(at, res.r, res.latency)
	if e.m.downs != downs {
		s.met.wentDown(id)
	}
	last := e.m.Checked() && s.firstResultLocked(id)
	// Counted as the machine took it: with on_alarm down an alarm fails the check. Under s.mu:
	// never after Remove's forget.
	s.met.observe(id, e.m.cfg.OnAlarm.applyAlarm(res.r), res.latency, e.m.lastExcused)
	s.refusedAloneMetricsLocked(id.Listener)
	busy, inconclusive, cfg := e.m.busySince, e.m.inconclusiveSince, e.m.cfg
	state := e.m.State()
	now := s.clock.Now()
	expiring := e.m.certificatesToLog(now)
	s.mu.Unlock()
	for _, c := range expiring {
		msg, left := "TLS certificate of the check expires soon", c.NotAfter.Sub(now)
		if left <= 0 {
			msg = "TLS certificate of the check has expired"
		}
		s.log.Warn(msg, zap.Stringer("backend", id), zap.String("certificate", string(c.Role)),
			zap.String("subject", c.Subject), zap.Time("not_after", c.NotAfter), zap.Duration("expires_in", left.Round(time.Minute)))
	}
	// One line when a streak of inconclusive checks begins and one when it ends, however long
	// the shortage lasts.
	switch {
	case wasInconclusive.IsZero() && !inconclusive.IsZero():
		s.log.Warn("check inconclusive: this host cannot make it; backend keeps its state",
			zap.Stringer("backend", id), zap.Stringer("state", state), zap.Error(res.r.Err))
	case !wasInconclusive.IsZero() && inconclusive.IsZero():
		s.log.Info("check conclusive again", zap.Stringer("backend", id),
			zap.Duration("inconclusive_for", s.clock.Now().Sub(wasInconclusive)))
	}
	switch {
	case wasBusy.IsZero() && !busy.IsZero():
		s.log.Info("backend busy: its check timed out while it keeps sending to its clients; kept in service",
			zap.Stringer("backend", id), zap.String("error", res.r.Err.Error()), zap.Duration("busy_grace", cfg.BusyGrace))
	case !wasBusy.IsZero() && busy.IsZero():
		s.log.Info("backend no longer busy", zap.Stringer("backend", id), zap.Duration("busy_for", s.clock.Now().Sub(wasBusy)))
	}
	s.emitLocked(ev)
	if last {
		close(s.checked)
	}
}

// firstResultLocked records that backend id no longer holds up Checked, and reports whether
// it was the last that did: the caller then closes s.checked, once the subscribers have been
// given the events of that result (the daemon starts VRRP on Checked, and its track rules
// must know every first result by then). s.mu is held.
func (s *Scheduler) firstResultLocked(id backend.ID) bool {
	if !s.pending[id] {
		return false
	}
	delete(s.pending, id)
	return len(s.pending) == 0 && s.started
}

// Alive reports whether Run's loop still turns: it asks the loop to
// answer and waits until it has, or until ctx is done (then the error
// says the loop did not answer). The loop answers at its next turn,
// once it has started the checks due and handed the state changes to
// the subscribers; the checks themselves run on goroutines of their own
// and are not waited for. A subscriber that blocks holds the loop, and
// Alive tells. A scheduler whose Run has not started, or has returned,
// answers nil at once. Safe from any goroutine; the daemon's watchdog
// calls it.
func (s *Scheduler) Alive(ctx context.Context) error {
	done := make(chan struct{})
	s.mu.Lock()
	if !s.started || s.ended {
		s.mu.Unlock()
		return nil
	}
	s.aliveWaiters = append(s.aliveWaiters, done)
	s.mu.Unlock()
	s.kick()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the health checks' loop did not answer: %w", context.Cause(ctx))
	}
}

// answerAlive closes the channels of the Alive requests made so far; with
// ended, Run returns and later requests are answered at once.
func (s *Scheduler) answerAlive(ended bool) {
	s.mu.Lock()
	waiters := s.aliveWaiters
	s.aliveWaiters = nil
	s.ended = s.ended || ended
	s.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
}

func (s *Scheduler) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// isTimeout reports whether err says a deadline passed (context, os and net deadlines, and
// checkers' own timeout errors that have a Timeout method).
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// emitLocked logs events and hands them to subscribers, in order; s.emitMu is held (and s.mu
// is not).
func (s *Scheduler) emitLocked(events []Event) {
	if len(events) == 0 {
		return
	}
	s.mu.Lock()
	subs := append([]*subscriber(nil), s.subs...)
	s.mu.Unlock()
	for _, e := range events {
		// A change is logged at info by whoever applies it (the daemon's
		// listener), once, with the rest of the changes that do not come
		// from the checks.
		if e.State != e.Prev {
			s.log.Debug("backend state changed", zap.Stringer("backend", e.Backend),
				zap.Stringer("from", e.Prev), zap.Stringer("to", e.State), zap.String("reason", e.Reason),
				zap.Time("at", e.Time))
		} else {
			s.log.Debug("backend updated", zap.Stringer("backend", e.Backend), zap.Stringer("state", e.State),
				zap.String("reason", e.Reason), zap.Int("weight_percent", e.WeightPercent))
		}
		for _, sub := range subs {
			sub.fn(e)
		}
	}
}

// currentEvent describes m's current state as an event with no change.
func currentEvent(m *Machine, now time.Time) Event {
	st := m.State()
	return Event{Backend: m.id, Time: now, State: st, Prev: st, Health: m.health, Reason: m.reason, WeightPercent: m.weight, Full: m.full}
}
