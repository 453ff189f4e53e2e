package healthcheck

import (
	"fmt"
	"sync"
)

// Tracker turns backend states into a VRRP priority adjustment, like keepalived's track_script
// with a weight but without forking: each rule has a weight; a negative weight is added while
// the rule fails, a positive one while it holds (keepalived's semantics). Feed it events with
// Handle (it is a Scheduler subscriber); it calls apply with the new total whenever the total
// changes. Rules start failing (backends start DOWN), so read Delta after adding rules for the
// initial adjustment. A Tracker is safe for concurrent use; apply is called with the Tracker's
// lock held, so it must not call back into the Tracker.
type Tracker struct {
	mu     sync.Mutex
	apply  func(delta int)
	rules  []*trackRule
	states map[string]Event // latest event per backend
	delta  int
}

type trackRule struct {
	name     string
	weight   int
	backends []string
	none     bool // NoneServing rule: fails when no backend serves
}

// NewTracker returns a tracker that reports total adjustments to apply (nil: none; use Delta).
func NewTracker(apply func(delta int)) *Tracker {
	return &Tracker{apply: apply, states: map[string]Event{}}
}

// TrackBackend adds a rule that fails while the health of backend is DOWN (its checks fail;
// operator states do not count). weight is typically negative (e.g. -60) and must not be 0.
func (t *Tracker) TrackBackend(backend string, weight int) error {
	return t.add(&trackRule{name: backend, weight: weight, backends: []string{backend}})
}

// TrackNoneServing adds rule name that fails while none of backends is serving (UP or
// DEGRADED), e.g. "no backend of listener amqp is up": the VIP should go to a host that can
// serve.
func (t *Tracker) TrackNoneServing(name string, backends []string, weight int) error {
	if len(backends) == 0 {
		return fmt.Errorf("tracking %s: no backends", name)
	}
	return t.add(&trackRule{name: name, weight: weight, backends: append([]string(nil), backends...), none: true})
}

func (t *Tracker) add(r *trackRule) error {
	if r.weight == 0 || r.weight < -254 || r.weight > 254 {
		return fmt.Errorf("tracking %s: weight must be -254..254 and not 0, got %d", r.name, r.weight)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rules = append(t.rules, r)
	t.delta = t.compute()
	return nil
}

// Handle records e and calls apply if the total adjustment changed.
func (t *Tracker) Handle(e Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.states[e.Backend] = e
	d := t.compute()
	if d != t.delta {
		t.delta = d
		if t.apply != nil {
			t.apply(d)
		}
	}
}

// Delta returns the current total adjustment.
func (t *Tracker) Delta() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.delta
}

// TrackStatus is the state of one tracking rule.
type TrackStatus struct {
	Rule    string `json:"rule"`
	Weight  int    `json:"weight"`
	Failing bool   `json:"failing"`
}

// Snapshot returns the state of every rule, in the order they were added.
func (t *Tracker) Snapshot() []TrackStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TrackStatus, 0, len(t.rules))
	for _, r := range t.rules {
		out = append(out, TrackStatus{Rule: r.name, Weight: r.weight, Failing: t.failing(r)})
	}
	return out
}

func (t *Tracker) failing(r *trackRule) bool {
	if r.none {
		for _, b := range r.backends {
			if e, ok := t.states[b]; ok && e.State.Serving() {
				return false
			}
		}
		return true
	}
	e, ok := t.states[r.backends[0]]
	return !ok || e.Health == StateDown
}

func (t *Tracker) compute() int {
	d := 0
	for _, r := range t.rules {
		f := t.failing(r)
		if (r.weight < 0 && f) || (r.weight > 0 && !f) {
			d += r.weight
		}
	}
	return d
}
