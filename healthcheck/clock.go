package healthcheck

import "github.com/rmqlb/rmqlb/internal/clock"

// Clock is the source of time of a Scheduler (Options.Clock); tests inject a
// clock.Fake. It is the shared interface of package internal/clock: Now and
// NewTimer.
type Clock = clock.Clock

// Timer is the part of *time.Timer a Scheduler uses: C, Stop and Reset, with
// Go 1.23 semantics.
type Timer = clock.Timer

// SystemClock is the real clock (package time). SystemClock{} is a Clock.
type SystemClock = clock.Real
