package balancer

import "fmt"

// BackendState is the administrative / health state of a backend.
type BackendState int

// Backend states. The zero value is Up.
const (
	// Up: the backend takes new connections (if its weight is > 0).
	Up BackendState = iota
	// Down: failed its checks. No new connections; its sessions are closed
	// if Config.ShutdownSessionsOnDown; its sticky clients are forgotten.
	Down
	// Drain: no new connections, existing sessions are kept.
	Drain
	// Maint: taken out by an operator; treated like Down.
	Maint
)

var stateNames = [...]string{Up: "up", Down: "down", Drain: "drain", Maint: "maint"}

// String returns "up", "down", "drain", "maint" or "BackendState(N)".
func (s BackendState) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("BackendState(%d)", int(s))
}

// MarshalText encodes s as its String form, so JSON shows "up" etc.
func (s BackendState) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("marshaling backend state: unknown state %d", int(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText parses the String form (case-sensitive, lower case).
func (s *BackendState) UnmarshalText(b []byte) error {
	st, err := ParseBackendState(string(b))
	if err != nil {
		return err
	}
	*s = st
	return nil
}

// ParseBackendState parses "up", "down", "drain" or "maint".
func ParseBackendState(v string) (BackendState, error) {
	for i, n := range stateNames {
		if n == v {
			return BackendState(i), nil
		}
	}
	return 0, fmt.Errorf("parsing backend state: %q is not one of up, down, drain, maint", v)
}

// takesNew reports whether a backend in state s may get new connections.
func (s BackendState) takesNew() bool { return s == Up }

// isDown reports whether s removes the backend (sessions may be shut, sticky
// clients are forgotten).
func (s BackendState) isDown() bool { return s == Down || s == Maint }
