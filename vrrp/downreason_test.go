package vrrp

import (
	"testing"
	"time"
)

// TestTakeoverReasonLowerMaster pins the reason a BACKUP gives for taking
// over from a master of lower priority, which the status shows: a master
// that still advertises is preempted; one that went silent (no advert for
// more than two of its intervals) is not, the Master_Down_Timer expired,
// and the reason says for how long it was silent.
func TestTakeoverReasonLowerMaster(t *testing.T) {
	const (
		sec = time.Second
		mdi = 3609375 * time.Microsecond // priority 100, 1 s
	)
	lowerAdvert := func(at time.Duration) step {
		return step{at: at, ev: advertFrom(higher, 50, sec), state: StateBackup}
	}
	takeover := func(at time.Duration, reason string) step {
		return step{at: at, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, reason), SendAdvert{100}, Acquire{}}, state: StateMaster}
	}
	start := step{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, deadline: mdi}
	runMachineCases(t, []machineCase{
		{
			name: "preempt: the master went silent",
			cfg:  testConfig(),
			steps: []step{start, lowerAdvert(sec),
				takeover(mdi, "master down timer expired (last master 10.99.0.7, priority 50, silent for 2.609375s)")},
		},
		{
			name: "preempt: the master still advertises",
			cfg:  testConfig(),
			steps: []step{start, lowerAdvert(sec), lowerAdvert(2 * sec), lowerAdvert(3 * sec),
				takeover(mdi, "preempting lower priority master 10.99.0.7 (priority 50)")},
		},
		{
			// Its 10 s interval, not the 1 s adopted, tells silence.
			name: "preempt: a master of a longer interval than adopted still advertises",
			cfg:  testConfig(func(c *Config) { c.MaxAdoptedInterval = sec }),
			steps: []step{start, {at: sec, ev: advertFrom(higher, 50, 10*sec), state: StateBackup},
				takeover(mdi, "preempting lower priority master 10.99.0.7 (priority 50)")},
		},
		{
			name: "preempt_delay: the master went silent",
			cfg:  testConfig(func(c *Config) { c.PreemptDelay = 3 * sec }),
			steps: []step{start, lowerAdvert(sec),
				takeover(4*sec, "master down timer expired (last master 10.99.0.7, priority 50, silent for 3s)")},
		},
		{
			name: "preempt_delay: the master still advertises",
			cfg:  testConfig(func(c *Config) { c.PreemptDelay = 3 * sec }),
			steps: []step{start, lowerAdvert(sec), lowerAdvert(2 * sec), lowerAdvert(3 * sec),
				takeover(4*sec, "preempting lower priority master 10.99.0.7 (priority 50) after preempt_delay")},
		},
	})
}
