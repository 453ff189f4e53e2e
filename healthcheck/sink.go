package healthcheck

// Sink is what the balancer implements to follow backend states (consumer-side interface; the
// balancer package need not import this one beyond State).
type Sink interface {
	// SetBackendState is called on every state change (and once at start-up) with the
	// effective state: serve new connections only when state.Serving().
	SetBackendState(name string, state State, reason string)
	// SetBackendWeight is called with 1..100, the share of its configured weight the backend
	// gets (slow start); 100 when not in slow start.
	SetBackendWeight(name string, percent int)
}

// Forward returns a subscriber that forwards events to sink: SetBackendState for each event that
// is not WeightOnly (so also for reason updates: the call must be idempotent) and
// SetBackendWeight whenever the weight changed since the last call for that backend.
// The returned function is not safe for concurrent use, which Scheduler guarantees.
func Forward(sink Sink) func(Event) {
	weights := map[string]int{}
	return func(e Event) {
		if !e.WeightOnly {
			sink.SetBackendState(e.Backend, e.State, e.Reason)
		}
		if w, ok := weights[e.Backend]; !ok || w != e.WeightPercent {
			weights[e.Backend] = e.WeightPercent
			sink.SetBackendWeight(e.Backend, e.WeightPercent)
		}
	}
}
