package control

import (
	"time"

	"github.com/rmqlb/rmqlb/backend"
)

// BackendAdmin is the daemon's answer to `backend L/B drain|maint|ready`:
// the backend's operator state and state after the command.
type BackendAdmin struct {
	Backend backend.ID    `json:"backend"`
	Admin   backend.Admin `json:"admin"`
	State   backend.State `json:"state"`
	// StateFileNote says that the change could not be written to the
	// state file, and so lasts until the daemon stops; empty when it was,
	// or there is no state file.
	StateFileNote string `json:"state_file_note,omitempty"`
}

// BackendWeight is the daemon's answer to `backend L/B weight N|reset`:
// the backend's weight after the command.
type BackendWeight struct {
	Backend backend.ID `json:"backend"`
	// Weight is in effect: the operator's when Override is set, else
	// Configured, the weight of the configuration file.
	Weight     int  `json:"weight"`
	Configured int  `json:"configured_weight"`
	Override   bool `json:"weight_override"`
	// StateFileNote is BackendAdmin's.
	StateFileNote string `json:"state_file_note,omitempty"`
}

// SessionsClosed is the daemon's answer to `backend L/B
// shutdown-sessions`: how many sessions of the backend it closed.
type SessionsClosed struct {
	Backend  backend.ID `json:"backend"`
	Sessions int        `json:"sessions"`
}

// SessionMove is an operator's paced move of a backend's clients to the
// other backends of its listener (`rmqlb backend L/B move-sessions`):
// the backend takes no new client (DRAIN) and its sessions are closed a
// few at a time, so that their clients reconnect through the VIP and
// are balanced elsewhere without a storm of reconnections. It is the
// answer to the command, and `moves` in the status, while it runs and
// for 10 minutes after it ended.
type SessionMove struct {
	Backend backend.ID `json:"backend"`
	// Rate is the most sessions closed per second.
	Rate int `json:"rate"`
	// Since is when the move began; Sessions how many sessions the
	// backend had then, Moved how many the move has closed, and Left how
	// many the backend still has (closing ones included).
	Since    time.Time `json:"since"`
	Sessions int       `json:"sessions"`
	Moved    int       `json:"moved"`
	Left     int       `json:"left"`
	// Paused says why no session is closed now: no other backend of the
	// listener could take a client; empty while the move closes them.
	Paused string `json:"paused,omitempty"`
	// Ended is when the move ended (zero while it runs) and Outcome how:
	// OutcomeMoved once the backend has no session left, else why it
	// stopped (the backend left DRAIN, was removed, the daemon stopped).
	Ended   time.Time `json:"ended,omitzero"`
	Outcome string    `json:"outcome,omitempty"`
	// StateFileNote is BackendAdmin's (the DRAIN the move sets).
	StateFileNote string `json:"state_file_note,omitempty"`
}

// OutcomeMoved is SessionMove.Outcome of a move that ended with no
// session left on its backend.
const OutcomeMoved = "moved"

// Running reports whether the move is still under way.
func (m SessionMove) Running() bool { return m.Ended.IsZero() }
