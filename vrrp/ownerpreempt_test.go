package vrrp

import (
	"testing"
	"time"
)

// The address owner (priority 255) preempts a lower-priority master even
// with preemption off (RFC 5798 6.1), as keepalived does: back from a
// planned release, it takes the VIPs again at once. A priority below 255
// with preemption off stays BACKUP.
func TestOwnerPreemptsWithoutPreempt(t *testing.T) {
	for _, tc := range []struct {
		prio uint8
		want State
	}{{255, StateMaster}, {200, StateBackup}} {
		m := NewMachine(testConfig(func(c *Config) { c.Priority = tc.prio; c.Preempt = false }), local)
		now := t0
		m.Step(now, Startup{})
		m.Step(now, StepDown{})
		m.Step(now, advertFrom(lower, 100, time.Second)) // yields to the other
		m.Step(now, Ready{})
		for range 10 {
			now = now.Add(time.Second)
			m.Step(now, advertFrom(lower, 100, time.Second))
			if d, ok := m.NextDeadline(); ok && !now.Before(d) {
				m.Step(now, Tick{})
			}
		}
		if m.State() != tc.want {
			t.Errorf("priority %d without preemption, 10 s of a priority-100 master: %v, want %v", tc.prio, m.State(), tc.want)
		}
	}
}
