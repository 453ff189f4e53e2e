package vrrp

import "fmt"

// State is the state of a virtual router (RFC 5798 section 6.4, plus
// keepalived's FAULT for a link that is down).
type State int

const (
	// StateInit is the Initialize state: not started, or shut down.
	StateInit State = iota
	// StateBackup monitors the master and takes over when it goes silent.
	StateBackup
	// StateMaster owns the virtual addresses and sends advertisements.
	StateMaster
	// StateFault is entered while the interface link is down; nothing is
	// sent or accepted until the link comes back.
	StateFault
)

// String returns INIT, BACKUP, MASTER or FAULT.
func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// MarshalText implements encoding.TextMarshaler, so State appears as its
// name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	for _, v := range []State{StateInit, StateBackup, StateMaster, StateFault} {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("parsing VRRP state %q: want INIT, BACKUP, MASTER or FAULT", b)
}
