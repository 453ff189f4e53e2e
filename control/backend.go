package control

import "github.com/rmqlb/rmqlb/backend"

// BackendWeight is the daemon's answer to `backend L/B weight N|reset`:
// the backend's weight after the command.
type BackendWeight struct {
	Backend backend.ID `json:"backend"`
	// Weight is in effect: the operator's when Override is set, else
	// Configured, the weight of the configuration file.
	Weight     int  `json:"weight"`
	Configured int  `json:"configured_weight"`
	Override   bool `json:"weight_override"`
}

// SessionsClosed is the daemon's answer to `backend L/B
// shutdown-sessions`: how many sessions of the backend it closed.
type SessionsClosed struct {
	Backend  backend.ID `json:"backend"`
	Sessions int        `json:"sessions"`
}
