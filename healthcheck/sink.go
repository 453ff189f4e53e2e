package healthcheck

import "github.com/rmqlb/rmqlb/backend"

// Sink is what follows backend states: the daemon's router to the balancer's listeners
// (consumer-side interface).
type Sink interface {
	// SetBackendState is called on every state change (and once at start-up) with the
	// effective state: serve new connections only when state.Serving().
	SetBackendState(id backend.ID, state backend.State, reason string)
	// SetBackendWeight is called with 1..100, the share of its configured weight the backend
	// gets (slow start); 100 when not in slow start.
	SetBackendWeight(id backend.ID, percent int)
	// SetBackendFull is called with whether the backend's broker refuses new clients at its
	// own connection limit (Event.Full): it keeps its sessions and takes new clients only when
	// no other backend can.
	SetBackendFull(id backend.ID, full bool)
}

// Forward returns a subscriber that forwards events to sink: SetBackendState and SetBackendFull
// for each event that is not WeightOnly (so also for reason updates: the calls must be
// idempotent) and SetBackendWeight whenever the weight changed since the last call for that
// backend.
// The returned function is not safe for concurrent use, which Scheduler guarantees.
func Forward(sink Sink) func(Event) {
	weights := map[backend.ID]int{}
	return func(e Event) {
		if !e.WeightOnly {
			sink.SetBackendState(e.Backend, e.State, e.Reason)
			sink.SetBackendFull(e.Backend, e.Full)
		}
		if w, ok := weights[e.Backend]; !ok || w != e.WeightPercent {
			weights[e.Backend] = e.WeightPercent
			sink.SetBackendWeight(e.Backend, e.WeightPercent)
		}
	}
}
