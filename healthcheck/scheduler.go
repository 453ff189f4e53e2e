package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Options configure a Scheduler. The zero value is usable.
type Options struct {
	// Clock is the time source. Nil: the system clock.
	Clock Clock
	// Logger receives one line per state change. Nil: no logging.
	Logger *zap.Logger
	// Jitter returns a random duration in [0, max) for the first check of a backend. Nil:
	// math/rand/v2. Tests make it deterministic.
	Jitter func(max time.Duration) time.Duration
	// Metrics, when non-nil, receives the scheduler's metrics (see NewMetrics).
	Metrics *Metrics
}

// Scheduler runs the checks of a set of backends and publishes their state changes. Add
// backends and Subscribe before Run; Snapshot and SetAdmin are safe at any time from any
// goroutine. Subscribers are called one at a time, in order, from the scheduler's goroutines;
// they must not block for long and must not call back into the Scheduler except Snapshot.
type Scheduler struct {
	clock  Clock
	log    *zap.Logger
	jitter func(time.Duration) time.Duration
	met    *Metrics

	mu       sync.Mutex // guards backends, order, started, subs
	backends map[string]*backend
	order    []string
	started  bool
	subs     []func(Event)

	emitMu sync.Mutex // serialises calls of subscribers
}

type backend struct {
	m       *Machine
	checker Checker
	delay   time.Duration // start-up jitter of the first check, counted from Run
	running bool
}

// NewScheduler returns a scheduler without backends.
func NewScheduler(o Options) *Scheduler {
	s := &Scheduler{clock: o.Clock, log: o.Logger, jitter: o.Jitter, met: o.Metrics,
		backends: map[string]*backend{}}
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

// ErrUnknownBackend is returned for a backend name that was never added.
var ErrUnknownBackend = errors.New("unknown backend")

// Add registers backend name with its schedule and checker. It must be called before Run.
func (s *Scheduler) Add(name string, cfg CheckConfig, c Checker) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("adding backend %s: %w", name, err)
	}
	if c == nil {
		return fmt.Errorf("adding backend %s: nil checker", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("adding backend %s: scheduler already running", name)
	}
	if _, ok := s.backends[name]; ok {
		return fmt.Errorf("adding backend %s: duplicate name", name)
	}
	cfg = cfg.WithDefaults()
	var delay time.Duration
	if cfg.StartJitter > 0 {
		delay = s.jitter(cfg.StartJitter)
	}
	s.backends[name] = &backend{m: NewMachine(name, cfg, s.clock.Now(), delay), checker: c, delay: delay}
	s.order = append(s.order, name)
	return nil
}

// Subscribe adds fn to the receivers of events. It must be called before Run.
func (s *Scheduler) Subscribe(fn func(Event)) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
}

// SetAdmin sets the operator state of backend name (AdminNone clears it).
func (s *Scheduler) SetAdmin(name string, a Admin) error {
	s.mu.Lock()
	b, ok := s.backends[name]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("setting admin state of %s: %w", name, ErrUnknownBackend)
	}
	ev := b.m.SetAdmin(s.clock.Now(), a)
	s.mu.Unlock()
	s.emit(ev)
	return nil
}

// Snapshot is the status of every backend, in the order they were added.
type Snapshot struct {
	Backends []BackendStatus `json:"backends"`
}

// Snapshot returns the status of every backend.
func (s *Scheduler) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Snapshot{Backends: make([]BackendStatus, 0, len(s.order))}
	for _, n := range s.order {
		out.Backends = append(out.Backends, s.backends[n].m.Status())
	}
	return out
}

// State returns the effective state of backend name.
func (s *Scheduler) State(name string) (State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.backends[name]
	if !ok {
		return 0, false
	}
	return b.m.State(), true
}

type result struct {
	name    string
	r       Result
	start   time.Time
	latency time.Duration
}

// Run runs the checks until ctx is done, then waits for running checks to return and returns
// nil. It first publishes the initial state (DOWN, "not checked yet") of every backend. Run
// must be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("running health checks: already running")
	}
	s.started = true
	var initial []Event
	now := s.clock.Now()
	for _, n := range s.order {
		b := s.backends[n]
		m := b.m
		m.due, m.since = now.Add(b.delay), now // jitter counts from Run, not from Add
		initial = append(initial, Event{Backend: n, Time: now, State: m.State(), Prev: m.State(), Health: m.health, Reason: m.reason, WeightPercent: m.weight})
	}
	s.mu.Unlock()
	s.emit(initial)

	results := make(chan result)
	var wg sync.WaitGroup
	defer wg.Wait()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()

	for {
		now := s.clock.Now()
		var next time.Time
		var events []Event
		s.mu.Lock()
		for _, n := range s.order {
			b := s.backends[n]
			if t := b.m.NextTick(); !t.IsZero() {
				if !t.After(now) {
					events = append(events, b.m.Tick(now)...)
					t = b.m.NextTick()
				}
				if !t.IsZero() && (next.IsZero() || t.Before(next)) {
					next = t
				}
			}
			if b.running {
				continue
			}
			if due := b.m.Due(); !due.After(now) {
				b.running = true
				late := b.m.Begin(now)
				timeout := b.m.Config().Timeout
				if late < timeout/2 { // a check started much too late still gets half its time
					timeout -= late
				} else {
					timeout /= 2
				}
				wg.Add(1)
				go s.check(cctx, &wg, n, b.checker, timeout, results)
			} else if next.IsZero() || due.Before(next) {
				next = due
			}
		}
		s.mu.Unlock()
		s.emit(events)

		var timerC <-chan time.Time
		var timer Timer
		if !next.IsZero() {
			timer = s.clock.NewTimer(next.Sub(now))
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			cancel()
			// Drain results so that check goroutines can exit; wg.Wait in the defer.
			go func() {
				wg.Wait()
				close(results)
			}()
			for range results {
			}
			return nil
		case <-timerC:
		case res := <-results:
			if timer != nil {
				timer.Stop()
			}
			s.observe(res)
		}
	}
}

// check runs one check with its timeout and sends the result.
func (s *Scheduler) check(ctx context.Context, wg *sync.WaitGroup, name string, c Checker, timeout time.Duration, out chan<- result) {
	defer wg.Done()
	start := s.clock.Now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	r := c.Check(cctx)
	cancel()
	lat := s.clock.Now().Sub(start)
	select {
	case out <- result{name: name, r: r, start: start, latency: lat}:
	case <-ctx.Done():
	}
}

func (s *Scheduler) observe(res result) {
	s.mu.Lock()
	b := s.backends[res.name]
	b.running = false
	now := s.clock.Now()
	ev := b.m.Observe(now, res.r, res.latency)
	s.mu.Unlock()
	if s.met != nil {
		s.met.observe(res.name, res.r, res.latency)
	}
	s.emit(ev)
}

// emit logs events and hands them to subscribers, in order.
func (s *Scheduler) emit(events []Event) {
	if len(events) == 0 {
		return
	}
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.mu.Lock()
	subs := append([]func(Event){}, s.subs...)
	s.mu.Unlock()
	for _, e := range events {
		if e.State != e.Prev {
			s.log.Info("backend state changed", zap.String("backend", e.Backend),
				zap.Stringer("from", e.Prev), zap.Stringer("to", e.State), zap.String("reason", e.Reason),
				zap.Time("at", e.Time))
		} else {
			s.log.Debug("backend updated", zap.String("backend", e.Backend), zap.Stringer("state", e.State),
				zap.String("reason", e.Reason), zap.Int("weight_percent", e.WeightPercent))
		}
		if s.met != nil {
			s.met.setState(e)
		}
		for _, fn := range subs {
			fn(e)
		}
	}
}

// Names returns the backend names in the order they were added.
func (s *Scheduler) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}
