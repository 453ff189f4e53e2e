package vrrp

import (
	"testing"
	"time"
)

// TestBackupDownTimerFollowsPriority: a BACKUP's running
// Master_Down_Timer is moved by the change of Master_Down_Interval (or of
// Skew_Time, for the timer of a priority-0 advert) that a change of its
// priority or settings makes, as if armed with the new one, rather than
// waiting for the next advert: so that when the master dies right after
// the change, the backups take over in the order their new priorities
// say (keepalived moves the timer the same way on a priority change).
func TestBackupDownTimerFollowsPriority(t *testing.T) {
	const (
		sec    = time.Second
		mdi    = 3609375 * time.Microsecond // priority 100, 1 s
		mdi50  = 3804687500 * time.Nanosecond
		skew   = 609375 * time.Microsecond
		skew50 = 804687500 * time.Nanosecond
		relMDI = 4 * sec // priority 0
	)
	start := step{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, deadline: mdi}
	master := step{at: sec, ev: advertFrom(higher, 150, sec), state: StateBackup, deadline: sec + mdi}
	silent := func(at time.Duration) step {
		return step{at: at, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "master 10.99.0.7 silent for master down interval"), SendAdvert{100}, Acquire{}}, state: StateMaster}
	}
	runMachineCases(t, []machineCase{
		{
			name: "a tracked check lowers the priority: the timer waits the longer Skew_Time",
			cfg:  testConfig(),
			steps: []step{start, master,
				{at: 2 * sec, ev: SetPriorityAdjust{Delta: -50}, state: StateBackup, deadline: sec + mdi50},
				{at: sec + mdi, ev: Tick{}, state: StateBackup, deadline: sec + mdi50}},
		},
		{
			name: "a reload raises the priority: the timer comes sooner",
			cfg:  testConfig(func(c *Config) { c.Priority = 50 }),
			steps: []step{start.withDeadline(mdi50), master.withDeadline(sec + mdi50),
				{at: 2 * sec, ev: Reconfigure{testConfig()}, state: StateBackup, deadline: sec + mdi},
				silent(sec + mdi)},
		},
		{
			name: "a reload raises late_adverts_tolerated: the timer waits one interval more",
			cfg:  testConfig(),
			steps: []step{start, master,
				{at: 2 * sec, ev: Reconfigure{testConfig(func(c *Config) { c.LateAdvertsTolerated = 1 })}, state: StateBackup, deadline: 2*sec + mdi},
				{at: sec + mdi, ev: Tick{}, state: StateBackup, deadline: 2*sec + mdi}},
		},
		{
			name: "the master sent priority 0: the Skew_Time of the new priority",
			cfg:  testConfig(),
			steps: []step{start, master,
				{at: 2 * sec, ev: advertFrom(higher, 0, sec), state: StateBackup, deadline: 2*sec + skew},
				{at: 2*sec + skew/2, ev: SetPriorityAdjust{Delta: -50}, state: StateBackup, deadline: 2*sec + skew50},
				{at: 2*sec + skew50, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "sent priority 0"), SendAdvert{50}, Acquire{}}, state: StateMaster}},
		},
		{
			name: "ready again: the timer of the released priority 0 comes to the priority's",
			cfg:  testConfig(),
			steps: []step{start,
				{at: sec / 2, ev: StepDown{}, state: StateBackup},
				master.withDeadline(sec + relMDI),
				{at: 2 * sec, ev: Ready{}, state: StateBackup, deadline: sec + mdi},
				silent(sec + mdi)},
		},
		{
			name: "v2: a reload of the interval keeps the master's, heard with the previous one",
			cfg:  testConfig(func(c *Config) { c.Version = 2 }),
			steps: []step{start,
				{at: sec, ev: v2Advert(higher, 150, sec, ""), state: StateBackup, deadline: sec + mdi},
				{at: 2 * sec, ev: Reconfigure{testConfig(func(c *Config) { c.Version = 2; c.AdvertInterval = 2 * sec; c.Priority = 50 })},
					state: StateBackup, deadline: sec + mdi50},
				{at: 3 * sec, ev: v2Advert(higher, 150, sec, ""), state: StateBackup, deadline: 3*sec + mdi50}},
		},
		{
			name: "lowered past the time already waited: takes over at the next step",
			cfg:  testConfig(func(c *Config) { c.LateAdvertsTolerated = 2 }),
			steps: []step{start.withDeadline(mdi + 2*sec), master.withDeadline(sec + mdi + 2*sec),
				{at: sec + mdi + sec/2, ev: Reconfigure{testConfig()}, state: StateBackup, deadline: sec + mdi + sec/2},
				silent(sec + mdi + sec/2)},
		},
	})
}

// withDeadline returns s expecting the deadline d.
func (s step) withDeadline(d time.Duration) step {
	s.deadline = d
	return s
}
