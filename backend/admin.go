package backend

import (
	"fmt"
	"strings"
)

// Admin is an operator's override of a backend's state.
type Admin uint8

// Admin states. The zero value AdminNone lets the checks decide.
const (
	// AdminNone: no override.
	AdminNone Admin = iota
	// AdminDrain: no new connections, sessions stay, checks keep running.
	// A backend whose checks fail is still Down: a drained broker that
	// freezes loses its sessions like any other.
	AdminDrain
	// AdminMaint: out of service whatever its checks say.
	AdminMaint
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

// ParseAdmin parses "none" (also "" and "ready"), "drain" or "maint"
// (also "maintenance"), case-insensitively.
func ParseAdmin(s string) (Admin, error) {
	switch strings.ToLower(s) {
	case "", "none", "ready":
		return AdminNone, nil
	case "drain":
		return AdminDrain, nil
	case "maint", "maintenance":
		return AdminMaint, nil
	}
	return 0, fmt.Errorf("parsing admin state: %q is not one of ready, drain, maint", s)
}

// Apply returns the effective state of a backend whose checks say health:
// Maint overrides everything; Drain overrides a serving health (Up,
// Degraded) but not Down, so that a drained broker that fails is still
// taken out.
func (a Admin) Apply(health State) State {
	switch a {
	case AdminMaint:
		return Maint
	case AdminDrain:
		if health.Serving() {
			return Drain
		}
	}
	return health
}

// MarshalText encodes a as its String form.
func (a Admin) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText decodes what ParseAdmin accepts.
func (a *Admin) UnmarshalText(b []byte) error {
	v, err := ParseAdmin(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ChangeReason is the reason of an operator's change of a backend's admin
// state from prev to a, for status and logs, the same whether the backend
// is checked or not: "operator set MAINT", "operator cleared DRAIN" (a is
// AdminNone; "operator set READY" when it was none either), followed by
// note in parentheses when there is one ("operator set MAINT (handed
// over)").
func ChangeReason(prev, a Admin, note string) string {
	var reason string
	switch {
	case a != AdminNone:
		reason = "operator set " + strings.ToUpper(a.String())
	case prev != AdminNone:
		reason = "operator cleared " + strings.ToUpper(prev.String())
	default:
		reason = "operator set READY"
	}
	if note != "" {
		reason += " (" + note + ")"
	}
	return reason
}
