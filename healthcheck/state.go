package healthcheck

import (
	"fmt"
	"strings"
)

// State is the effective state of a backend.
type State uint8

// States. The zero value is StateDown: a backend nobody has checked is not served.
const (
	StateDown     State = iota // failing its checks (or not checked yet)
	StateUp                    // passing its checks
	StateDegraded              // passing with a warning (e.g. an alarm); still served
	StateDrain                 // operator: no new connections, existing sessions stay
	StateMaint                 // operator: out of service
)

var stateNames = [...]string{"DOWN", "UP", "DEGRADED", "DRAIN", "MAINT"}

// String returns the upper-case name (UP, DOWN, DEGRADED, DRAIN, MAINT).
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Serving reports whether the balancer may send new connections to a backend in state s.
func (s State) Serving() bool { return s == StateUp || s == StateDegraded }

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (case-insensitive).
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if strings.EqualFold(n, string(b)) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unknown state %q", b)
}

// Admin is an operator override of a backend's state.
type Admin uint8

// Admin states. The zero value AdminNone lets the health decide.
const (
	AdminNone  Admin = iota // no override
	AdminDrain              // DRAIN: no new connections, sessions stay, checks keep running
	AdminMaint              // MAINT: out of service, checks keep running
)

// String returns "none", "drain" or "maint".
func (a Admin) String() string {
	switch a {
	case AdminNone:
		return "none"
	case AdminDrain:
		return "drain"
	case AdminMaint:
		return "maint"
	}
	return fmt.Sprintf("Admin(%d)", uint8(a))
}

// ParseAdmin parses "none" (or ""), "drain" or "maint", case-insensitively.
func ParseAdmin(s string) (Admin, error) {
	switch strings.ToLower(s) {
	case "", "none", "ready":
		return AdminNone, nil
	case "drain":
		return AdminDrain, nil
	case "maint", "maintenance":
		return AdminMaint, nil
	}
	return 0, fmt.Errorf("unknown admin state %q (want none, drain or maint)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (a Admin) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Admin) UnmarshalText(b []byte) error {
	v, err := ParseAdmin(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
