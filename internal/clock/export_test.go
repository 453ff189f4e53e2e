package clock

import "time"

// SetWaitTimeout makes the waiting helpers of c give up after d.
func SetWaitTimeout(c *Fake, d time.Duration) { c.waitTimeout = d }
