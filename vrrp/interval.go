package vrrp

import (
	"fmt"
	"time"
)

// CheckAdvertInterval reports whether d can be sent as the advertisement
// interval of VRRP version: whole seconds in 1s..255s for version 2 (RFC
// 3768 section 5.3.7, an 8-bit field of seconds), whole centiseconds in
// 10ms..40.95s for version 3 (RFC 5798 section 5.2.7, a 12-bit field of
// centiseconds). It is the one statement of that rule: the codec, the
// instance's configuration and the daemon's configuration file all use it.
func CheckAdvertInterval(version int, d time.Duration) error {
	switch version {
	case 2:
		if d%time.Second != 0 || d < time.Second || d > 255*time.Second {
			return fmt.Errorf("must be whole seconds from 1s to 255s with version 2, not %v", d)
		}
	case 3:
		const cs = 10 * time.Millisecond
		if d%cs != 0 || d < cs || d > 4095*cs {
			return fmt.Errorf("must be whole centiseconds from 10ms to 40.95s with version 3, not %v", d)
		}
	default:
		return fmt.Errorf("version %d: must be 2 or 3", version)
	}
	return nil
}
