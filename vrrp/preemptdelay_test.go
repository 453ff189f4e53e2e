package vrrp

import (
	"testing"
	"time"
)

// TestPreemptDelayAfterLinkReturn follows a host of higher priority whose
// link is cut and comes back while a host of lower priority holds the VIP
// (the lab's cut of the VIP owner on two RabbitMQ nodes with autoheal): back
// from FAULT it is a BACKUP that accepts the lower-priority master for
// preempt_delay, counted from the first lower-priority advert heard; a drop
// of its own priority meanwhile (autoheal restarting its broker, a track
// rule) starts the delay again once the priority is back.
func TestPreemptDelayAfterLinkReturn(t *testing.T) {
	const (
		sec    = time.Second
		ms     = time.Millisecond
		mdi    = 3609375 * time.Microsecond // priority 100, 1 s
		mdi40  = 3843750 * time.Microsecond // priority 40, 1 s
		delay  = 10 * sec
		cut    = 10 * sec
		repair = 30 * sec
	)
	lowerAdvert := func(at time.Duration, deadline time.Duration) step {
		return step{at: at, ev: advertFrom(higher, 50, sec), state: StateBackup, deadline: deadline}
	}
	steps := []step{
		{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}, deadline: mdi},
		{at: mdi, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "no advertisement"), SendAdvert{100}, Acquire{}}},
		{at: cut, ev: LinkDown{}, want: []Action{change(StateMaster, StateFault, "link down"), Release{}}, state: StateFault},
		// Back: BACKUP, not MASTER, and the lower-priority master is
		// heard within an advert interval.
		{at: repair, ev: LinkUp{}, want: []Action{change(StateFault, StateBackup, "interface link up")}, state: StateBackup, deadline: repair + mdi},
		lowerAdvert(repair+100*ms, repair+100*ms+mdi),
		lowerAdvert(repair+1100*ms, repair+1100*ms+mdi),
		lowerAdvert(repair+2100*ms, repair+2100*ms+mdi),
		// Its own broker fails its check (autoheal restarts it): 100-60
		// = 40 is below the master's 50, which is accepted, and the
		// delay forgotten.
		{at: repair + 2500*ms, ev: SetPriorityAdjust{Delta: -60}, state: StateBackup},
		lowerAdvert(repair+3100*ms, repair+3100*ms+mdi40),
		// The broker is back: the delay starts again at the next advert.
		{at: repair + 4000*ms, ev: SetPriorityAdjust{Delta: 0}, state: StateBackup},
	}
	restart := repair + 4100*ms
	for at := restart; at < restart+delay; at += sec {
		steps = append(steps, lowerAdvert(at, min(at+mdi, restart+delay)))
	}
	steps = append(steps,
		// Without the restart the delay would have ended at repair+10.1s.
		step{at: restart + delay - ms, ev: Tick{}, state: StateBackup, deadline: restart + delay},
		step{at: restart + delay, ev: Tick{}, want: []Action{
			change(StateBackup, StateMaster, "preempting lower priority master 10.99.0.7 (priority 50) after preempt_delay"),
			SendAdvert{100}, Acquire{}}, state: StateMaster},
	)
	runSteps(t, NewMachine(testConfig(func(c *Config) { c.PreemptDelay = delay }), local), steps)
}

// TestPreemptDelaySplitBrain pins what preempt_delay does not cover: when a
// partition leaves both hosts MASTER (no carrier loss, so no FAULT), the
// one of lower priority gives way at the first advert of the other once
// they hear each other again (RFC 5798 section 6.4.3, as keepalived does),
// whatever either's preempt_delay; the one of higher priority keeps the VIP.
func TestPreemptDelaySplitBrain(t *testing.T) {
	const sec = time.Second
	delay := func(prio uint8) Config {
		return testConfig(func(c *Config) { c.Priority, c.PreemptDelay = prio, 10*sec })
	}
	runMachineCases(t, []machineCase{
		{
			name: "the master of lower priority gives way at once",
			cfg:  delay(50),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}},
				{at: 5 * sec, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "no advertisement"), SendAdvert{50}, Acquire{}}},
				{at: 30 * sec, ev: advertFrom(higher, 100, sec),
					want: []Action{change(StateMaster, StateBackup, "higher priority master 10.99.0.7 (priority 100, ours 50)"), Release{}}, state: StateBackup},
			},
		},
		{
			name: "the master of higher priority keeps the VIP",
			cfg:  delay(100),
			steps: []step{
				{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "startup")}},
				{at: 5 * sec, ev: Tick{}, want: []Action{change(StateBackup, StateMaster, "no advertisement"), SendAdvert{100}, Acquire{}}},
				{at: 30 * sec, ev: advertFrom(higher, 50, sec), want: []Action{LowerMaster{From: higher, Priority: 50}, SendAdvert{100}, Acquire{}}, state: StateMaster},
				{at: 31 * sec, ev: advertFrom(higher, 50, sec), state: StateMaster},
			},
		},
	})
}
