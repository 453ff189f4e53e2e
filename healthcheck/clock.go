package healthcheck

import "github.com/rmqlb/rmqlb/internal/clock"

// Clock is the source of time of a Scheduler (Options.Clock); tests inject a
// clock.Fake. It is the shared interface of package internal/clock: Now,
// NewTimer and NewTimerAt.
type Clock = clock.Clock

// Timer is the part of *time.Timer a Scheduler uses: C, Stop, Reset and
// ResetAt (a Reset to an absolute deadline), with Go 1.23 semantics.
type Timer = clock.Timer

// SystemClock is the real clock (package time). SystemClock{} is a Clock.
type SystemClock = clock.Real
