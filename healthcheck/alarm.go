package healthcheck

import (
	"fmt"
	"strings"
)

// AlarmAction is what a resource alarm seen by a passing check does to a
// backend (CheckConfig.OnAlarm).
type AlarmAction uint8

// Alarm actions. The zero value is AlarmDegraded.
const (
	// AlarmDegraded reports the backend DEGRADED and keeps serving it: an
	// alarm blocks publishers cluster-wide, so taking one node out only
	// moves its clients onto nodes under the same alarm.
	AlarmDegraded AlarmAction = iota
	// AlarmDown fails the check, for operators who prefer to move
	// clients off an alarmed broker.
	AlarmDown
)

// String returns "degraded" or "down".
func (a AlarmAction) String() string {
	switch a {
	case AlarmDegraded:
		return "degraded"
	case AlarmDown:
		return "down"
	}
	return fmt.Sprintf("AlarmAction(%d)", uint8(a))
}

// ParseAlarmAction parses "degraded" or "down", case-insensitively.
func ParseAlarmAction(s string) (AlarmAction, error) {
	switch strings.ToLower(s) {
	case "degraded":
		return AlarmDegraded, nil
	case "down":
		return AlarmDown, nil
	}
	return 0, fmt.Errorf("must be degraded or down, not %q", s)
}

// MarshalText encodes a as its String form.
func (a AlarmAction) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText decodes what ParseAlarmAction accepts.
func (a *AlarmAction) UnmarshalText(b []byte) error {
	v, err := ParseAlarmAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// applyAlarm folds r.Alarm into r by the action: a warning (DEGRADED) or
// an error (DOWN). Results without an alarm, or that failed anyway, are
// returned unchanged.
func (a AlarmAction) applyAlarm(r Result) Result {
	if r.Err != nil || r.Alarm == "" {
		return r
	}
	msg := "resource alarm: " + r.Alarm
	if a == AlarmDown {
		r.Err = fmt.Errorf("%s (on_alarm: down)", msg)
		return r
	}
	if r.Warning != "" {
		msg += "; " + r.Warning
	}
	r.Warning = msg
	return r
}
