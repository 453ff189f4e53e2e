package healthcheck

import (
	"fmt"
	"sync"

	"github.com/rmqlb/rmqlb/backend"
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
	states map[backend.ID]Event // latest event per backend
	delta  int
}

type trackRule struct {
	name     string
	weight   int
	backends []backend.ID
	none     bool // NoneServing rule: fails when no backend serves
}

// MaxTrackWeight is the largest magnitude of a track weight: a VRRP priority is 1..254 when it
// can be adjusted.
const MaxTrackWeight = 254

// CheckTrackWeight reports whether w is a usable track weight: -MaxTrackWeight..MaxTrackWeight
// and not 0.
func CheckTrackWeight(w int) error {
	if w == 0 || w < -MaxTrackWeight || w > MaxTrackWeight {
		return fmt.Errorf("weight must be -%d..-1 or 1..%d, not %d", MaxTrackWeight, MaxTrackWeight, w)
	}
	return nil
}

// NewTracker returns a tracker that reports total adjustments to apply (nil: none; use Delta).
func NewTracker(apply func(delta int)) *Tracker {
	return &Tracker{apply: apply, states: map[backend.ID]Event{}}
}

// TrackBackend adds a rule, named id.String(), that fails while the health of backend id is
// DOWN (its checks fail; operator states do not count). weight is typically negative (e.g. -60)
// and must not be 0.
func (t *Tracker) TrackBackend(id backend.ID, weight int) error {
	return t.add(&trackRule{name: id.String(), weight: weight, backends: []backend.ID{id}})
}

// TrackNoneServing adds rule name that fails while none of backends is serving (UP or
// DEGRADED), e.g. "no backend of listener amqp is up": the VIP should go to a host that can
// serve.
func (t *Tracker) TrackNoneServing(name string, backends []backend.ID, weight int) error {
	if len(backends) == 0 {
		return fmt.Errorf("tracking %s: no backends", name)
	}
	return t.add(&trackRule{name: name, weight: weight, backends: append([]backend.ID(nil), backends...), none: true})
}

func (t *Tracker) add(r *trackRule) error {
	if err := CheckTrackWeight(r.weight); err != nil {
		return fmt.Errorf("tracking %s: %w", r.name, err)
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

// Flush calls apply with the current total, under the tracker's lock, so
// that no total computed by a concurrent Handle is applied after it. A
// tracker made while the checks run is built with an apply that ignores
// calls until it has the current states; Flush then applies them once.
func (t *Tracker) Flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.apply != nil {
		t.apply(t.delta)
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
	return !ok || e.Health == backend.Down
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
