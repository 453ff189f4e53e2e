package vrrp

import "github.com/rmqlb/rmqlb/internal/clock"

// Clock is the source of time of an Instance (Options.Clock); tests inject
// a clock.Fake. It is the shared interface of package internal/clock: Now
// and NewTimer.
type Clock = clock.Clock

// Timer is the part of *time.Timer an Instance uses: C, Stop and Reset, with
// Go 1.23 semantics (no stale value is received after Reset or Stop).
type Timer = clock.Timer
