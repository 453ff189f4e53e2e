package control

import "github.com/rmqlb/rmqlb/backend"

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
