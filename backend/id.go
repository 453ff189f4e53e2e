package backend

import (
	"errors"
	"fmt"
	"strings"
)

// ID names one backend of one listener. It is comparable and usable as a
// map key. The zero ID names nothing; IsValid tells.
type ID struct {
	// Listener is the name of the listener the backend belongs to.
	Listener string
	// Name is the backend's name, unique within its listener.
	Name string
}

// MaxNameLen is the longest listener or backend name accepted.
const MaxNameLen = 64

// ErrBadName is wrapped by the errors of CheckName and ParseID.
var ErrBadName = errors.New("bad name")

// CheckName reports whether s may name a listener or a backend: 1 to
// MaxNameLen bytes of ASCII letters, digits and "_", "-", ".", ":", "@".
// Slashes are refused because "listener/backend" is how an ID is written;
// white space because names appear in logs and tables.
func CheckName(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrBadName)
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%w: %q is longer than %d bytes", ErrBadName, s, MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == ':' || c == '@'
		if !ok {
			return fmt.Errorf("%w: %q may contain only letters, digits and _ - . : @", ErrBadName, s)
		}
	}
	return nil
}

// IsValid reports whether both parts of id are valid names.
func (id ID) IsValid() bool {
	return CheckName(id.Listener) == nil && CheckName(id.Name) == nil
}

// String returns "listener/backend", the form used in logs, status, the
// control socket and the configuration's track rules.
func (id ID) String() string { return id.Listener + "/" + id.Name }

// ParseID parses "listener/backend". Both names must pass CheckName.
func ParseID(s string) (ID, error) {
	l, n, ok := strings.Cut(s, "/")
	if !ok {
		return ID{}, fmt.Errorf("parsing backend %q: %w: want LISTENER/BACKEND", s, ErrBadName)
	}
	id := ID{Listener: l, Name: n}
	if err := CheckName(l); err != nil {
		return ID{}, fmt.Errorf("parsing backend %q: listener: %w", s, err)
	}
	if err := CheckName(n); err != nil {
		return ID{}, fmt.Errorf("parsing backend %q: backend: %w", s, err)
	}
	return id, nil
}

// MarshalText encodes id as String does.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes what MarshalText encodes.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
