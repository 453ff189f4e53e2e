// Package clock is the injected source of time of rmqlb's state machines
// (vrrp.Instance, healthcheck.Scheduler, the gratuitous ARP announcer of
// netsetup) and the manual clock their tests drive.
//
// Clock is the small interface the consumers use: Now, NewTimer and
// NewTimerAt. Real is the time package. Fake is a clock whose time moves
// only when a test says so (Advance, Set); it fires the timers that become
// due in deadline order and lets a test wait, in bounded real time, until
// the code under test has armed a timer (WaitArmed, NextArm) or changed
// one (Changed), so tests never sleep to make time pass. AdvanceAtNextArm moves its time just
// before the next arming, as when the code under test is held up between
// working out a deadline and arming its timer; Clock.NewTimerAt and
// Timer.ResetAt, which arm for a deadline rather than a duration, are what
// keep such code on time.
// The armings of WithTimeout's deadlines are marked (Arm.Context), and
// WaitArmedWhere and NextArmWhere pick the armings a test means, so that
// the deadlines of the work a state machine runs do not pass for the
// machine's own timers.
//
// WithTimeout is context.WithTimeout on a Clock, for deadlines of work the
// code under test waits for (vrrp bounds its Owner calls with it).
//
// Timers follow the semantics of time.Timer since Go 1.23 (see the
// time.Timer documentation and https://go.dev/wiki/Go123Timer): after Stop
// or Reset (or ResetAt) returns, no value armed before the call is
// received from C, and Stop and Reset report true when the timer had not
// yet been received from, even if its deadline had passed. Real inherits
// these semantics from the runtime as long as the module's go version is
// 1.23 or later and GODEBUG=asynctimerchan=1 is not set.
package clock
