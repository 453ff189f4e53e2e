package vrrp

import "github.com/rmqlb/rmqlb/internal/clock"

// Clock is the source of time of an Instance (Options.Clock); tests inject
// a clock.Fake. It is the shared interface of package internal/clock: Now,
// NewTimer and NewTimerAt.
type Clock = clock.Clock

// Timer is the part of *time.Timer an Instance uses: C, Stop, Reset and
// ResetAt (a Reset to an absolute deadline), with Go 1.23 semantics (no
// stale value is received after Reset, ResetAt or Stop).
type Timer = clock.Timer
