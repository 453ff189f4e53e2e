package vrrp

import (
	"testing"
	"time"
)

// TestPreemptDelayReload follows a reload that changes preempt_delay,
// preempt or the priority of a BACKUP whose preemption of a master of
// lower priority is pending: the preemption keeps its start (the first
// lower-priority advertisement) and its deadline becomes that start plus
// the new preempt_delay, never before the reload; a reload that takes
// away the reason to preempt (preempt off, a priority no longer above
// the master's) cancels it, and the master is accepted from its last
// advertisement.
func TestPreemptDelayReload(t *testing.T) {
	const (
		sec   = time.Second
		ms    = time.Millisecond
		mdi   = 3609375 * time.Microsecond // priority 100, 1 s
		mdi40 = 3843750 * time.Microsecond // priority 40, 1 s
	)
	delay := func(d time.Duration) Config { return testConfig(func(c *Config) { c.PreemptDelay = d }) }
	lowerAdvert := func(at, deadline time.Duration) step {
		return step{at: at, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: deadline}
	}
	start := step{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, deadline: mdi}
	// adverts returns the master's adverts every second from 'from'
	// until before 'to', against a preemption due at 'due'.
	adverts := func(from, to, due time.Duration) []step {
		var s []step
		for at := from; at < to; at += sec {
			s = append(s, lowerAdvert(at, min(at+mdi, due)))
		}
		return s
	}
	preempted := func(at time.Duration) step {
		return step{at: at, ev: Tick{}, want: []Action{
			change(StateBackup, StateMaster, "preempting lower priority master 10.99.0.7 (priority 50) after preempt_delay"),
			SendAdvert{100}, Acquire{}}, state: StateMaster}
	}
	cat := func(parts ...[]step) []step {
		var s []step
		for _, p := range parts {
			s = append(s, p...)
		}
		return s
	}
	runMachineCases(t, []machineCase{
		{
			name: "raised: the pending preemption waits for the new delay, counted from its start",
			cfg:  delay(2 * sec),
			steps: cat(
				[]step{start, lowerAdvert(sec, 3*sec), lowerAdvert(2*sec, 3*sec),
					// Due at 1 s + 10 s now; until then the master is
					// accepted, its next advert due within Master_Down_Interval.
					{at: 2*sec + 500*ms, ev: Reconfigure{delay(10 * sec)}, state: StateBackup, deadline: 2*sec + mdi},
					{at: 3 * sec, ev: Tick{}, state: StateBackup, deadline: 2*sec + mdi}},
				adverts(3*sec, 11*sec, 11*sec),
				[]step{{at: 11*sec - ms, ev: Tick{}, state: StateBackup, deadline: 11 * sec}, preempted(11 * sec)},
			),
		},
		{
			name: "raised from none: a preemption pending at the Master_Down_Timer waits for the delay",
			cfg:  delay(0),
			steps: cat(
				// Discarded: preempting at the timer of the start.
				[]step{start, lowerAdvert(sec, mdi), lowerAdvert(2*sec, mdi),
					{at: 2*sec + 500*ms, ev: Reconfigure{delay(10 * sec)}, state: StateBackup, deadline: 2*sec + mdi},
					{at: mdi, ev: Tick{}, state: StateBackup, deadline: 2*sec + mdi}},
				adverts(3*sec, 11*sec, 11*sec),
				[]step{preempted(11 * sec)},
			),
		},
		{
			name: "lowered: the pending preemption comes sooner",
			cfg:  delay(10 * sec),
			steps: cat(
				[]step{start},
				adverts(sec, 4*sec, 11*sec),
				[]step{{at: 3*sec + 500*ms, ev: Reconfigure{delay(5 * sec)}, state: StateBackup, deadline: 6 * sec}},
				adverts(4*sec, 6*sec, 6*sec),
				[]step{preempted(6 * sec)},
			),
		},
		{
			name: "lowered below the time already waited: preempts at the next step",
			cfg:  delay(10 * sec),
			steps: cat(
				[]step{start},
				adverts(sec, 5*sec, 11*sec),
				[]step{{at: 4*sec + 500*ms, ev: Reconfigure{delay(2 * sec)}, state: StateBackup, deadline: 4*sec + 500*ms},
					preempted(4*sec + 500*ms)},
			),
		},
		{
			name: "lowered to none: preempts at the Master_Down_Timer, the master's adverts discarded",
			cfg:  delay(10 * sec),
			steps: cat(
				[]step{start},
				adverts(sec, 4*sec, 11*sec),
				[]step{{at: 3*sec + 500*ms, ev: Reconfigure{delay(0)}, state: StateBackup, deadline: 3*sec + mdi},
					lowerAdvert(4*sec, 3*sec+mdi), lowerAdvert(5*sec, 3*sec+mdi), lowerAdvert(6*sec, 3*sec+mdi),
					{at: 3*sec + mdi, ev: Tick{}, want: []Action{
						change(StateBackup, StateMaster, "preempting lower priority master 10.99.0.7 (priority 50)"),
						SendAdvert{100}, Acquire{}}, state: StateMaster}},
			),
		},
		{
			name: "unchanged delay, other settings reloaded: the deadline stays",
			cfg:  delay(2 * sec),
			steps: []step{start, lowerAdvert(sec, 3*sec), lowerAdvert(2*sec, 3*sec),
				{at: 2*sec + 500*ms, ev: Reconfigure{testConfig(func(c *Config) { c.PreemptDelay = 2 * sec; c.Priority = 150 })}, state: StateBackup, deadline: 3 * sec},
				{at: 3 * sec, ev: Tick{}, want: []Action{
					change(StateBackup, StateMaster, "preempting lower priority master 10.99.0.7 (priority 50) after preempt_delay"),
					SendAdvert{150}, Acquire{}}, state: StateMaster},
			},
		},
		{
			name: "preempt turned off: the pending preemption is cancelled",
			cfg:  delay(2 * sec),
			steps: []step{start, lowerAdvert(sec, 3*sec), lowerAdvert(2*sec, 3*sec),
				{at: 2*sec + 500*ms, ev: Reconfigure{testConfig(func(c *Config) { c.PreemptDelay = 2 * sec; c.Preempt = false })}, state: StateBackup, deadline: 2*sec + mdi},
				{at: 3 * sec, ev: Tick{}, state: StateBackup, deadline: 2*sec + mdi},
				lowerAdvert(3*sec, 3*sec+mdi),
			},
		},
		{
			name: "priority reloaded below the master's: the pending preemption is cancelled",
			cfg:  delay(2 * sec),
			steps: []step{start, lowerAdvert(sec, 3*sec), lowerAdvert(2*sec, 3*sec),
				{at: 2*sec + 500*ms, ev: Reconfigure{testConfig(func(c *Config) { c.PreemptDelay = 2 * sec; c.Priority = 40 })}, state: StateBackup, deadline: 2*sec + mdi40},
				{at: 3 * sec, ev: Tick{}, state: StateBackup, deadline: 2*sec + mdi40},
				{at: 3 * sec, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: 3*sec + mdi40},
			},
		},
		{
			name: "priority adjusted below the master's: the pending preemption is cancelled",
			cfg:  delay(2 * sec),
			steps: []step{start, lowerAdvert(sec, 3*sec), lowerAdvert(2*sec, 3*sec),
				{at: 2*sec + 500*ms, ev: SetPriorityAdjust{Delta: -60}, state: StateBackup, deadline: 2*sec + mdi40},
				{at: 3 * sec, ev: Tick{}, state: StateBackup, deadline: 2*sec + mdi40},
			},
		},
	})
}
