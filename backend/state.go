package backend

import (
	"fmt"
	"strings"
)

// State is the effective state of a backend: what the balancer serves by.
type State uint8

// States. The zero value is Down: a backend nobody has vouched for is not
// served.
const (
	// Down: failing its checks, or not checked yet. No new connections;
	// its sessions are closed (on_marked_down: shutdown-sessions).
	Down State = iota
	// Up: passing its checks, or not checked at all. Takes new
	// connections while its weight is above 0.
	Up
	// Degraded: passing with a warning (a resource alarm); still served.
	Degraded
	// Drain: the operator's drain. No new connections; sessions stay.
	Drain
	// Maint: the operator's maintenance. Out of service, like Down.
	Maint
)

var stateNames = [...]string{Down: "DOWN", Up: "UP", Degraded: "DEGRADED", Drain: "DRAIN", Maint: "MAINT"}

// States lists every state, in order.
func States() []State { return []State{Down, Up, Degraded, Drain, Maint} }

// String returns the upper-case name: DOWN, UP, DEGRADED, DRAIN or MAINT.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Valid reports whether s is one of the states.
func (s State) Valid() bool { return int(s) < len(stateNames) }

// Serving reports whether a backend in state s takes new connections.
func (s State) Serving() bool { return s == Up || s == Degraded }

// Removed reports whether s takes the backend out of service: its sessions
// may be shut down and its persistent clients are forgotten.
func (s State) Removed() bool { return s == Down || s == Maint }

// ParseState parses a state name, case-insensitively.
func ParseState(v string) (State, error) {
	for i, n := range stateNames {
		if strings.EqualFold(n, v) {
			return State(i), nil
		}
	}
	return 0, fmt.Errorf("parsing backend state: %q is not one of UP, DOWN, DEGRADED, DRAIN, MAINT", v)
}

// MarshalText encodes s as its name.
func (s State) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("encoding backend state: unknown state %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a state name, case-insensitively.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
