package netlab

import "github.com/rmqlb/rmqlb/internal/wallclock"

// SchedulingSlack is wallclock.SchedulingSlack, which the lab's tests add
// to a bound that a protocol or a configuration guarantees before they
// compare it with a time measured on the wall clock.
const SchedulingSlack = wallclock.SchedulingSlack
