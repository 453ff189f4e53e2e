package control

import "time"

// Rebalance is an operator's rebalance of a listener's sessions (`rmqlb
// rebalance LISTENER`): AMQP connections live long, so after a broker's
// restart its share of them stays with the others until the clients
// reconnect. A rebalance closes sessions of the backends above their
// share a few at a time, so that their clients reconnect through the VIP
// and are balanced again, until every serving backend holds about its
// share by weight. It is the answer to the command, and `rebalances` in
// the status, while it runs and for 10 minutes after it ended.
type Rebalance struct {
	Listener string `json:"listener"`
	// Rate is the most sessions closed per second.
	Rate int `json:"rate"`
	// Since is when it began; Moved counts the sessions it has closed.
	Since time.Time `json:"since"`
	Moved int       `json:"moved"`
	// Shares are the serving backends' sessions against their share, as
	// the last step saw them.
	Shares []BackendShare `json:"shares"`
	// Paused says why no session is closed now; empty while they are.
	Paused string `json:"paused,omitempty"`
	// Ended is when it ended (zero while it runs) and Outcome how:
	// OutcomeBalanced, or why it stopped.
	Ended   time.Time `json:"ended,omitzero"`
	Outcome string    `json:"outcome,omitempty"`
}

// BackendShare is a serving backend's sessions against its share of the
// listener's sessions by weight.
type BackendShare struct {
	Backend  string  `json:"backend"`
	Sessions int     `json:"sessions"`
	Share    float64 `json:"share"`
}

// OutcomeBalanced is Rebalance.Outcome of one that ended with every
// serving backend within its tolerance of its share.
const OutcomeBalanced = "balanced"

// Running reports whether the rebalance is still under way.
func (r Rebalance) Running() bool { return r.Ended.IsZero() }
