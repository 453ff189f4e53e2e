package vrrp

import (
	"testing"
	"time"
)

// A healed split brain where the winner's advert reaches the loser first:
// the loser sends a last advert as it yields; the winner, hearing a lower
// master, announces the VIPs again, and the loser, hearing that, releases
// them. Without the last advert the winner hears nothing and never
// announces, and the loser's wait ends unannounced.
func TestSplitBrainHealWinnerAnnounces(t *testing.T) {
	winner := NewMachine(testConfig(func(c *Config) { c.Priority = 200 }), higher)
	loser := NewMachine(testConfig(), lower)
	winner.WatchAnnouncements()
	loser.WatchAnnouncements()
	now := t0
	winner.Step(now, Startup{})
	loser.Step(now, Startup{})
	now = now.Add(10 * time.Second) // cut off from each other: both MASTER
	winner.Step(now, Tick{})
	loser.Step(now, Tick{})
	if winner.State() != StateMaster || loser.State() != StateMaster {
		t.Fatalf("after the partition: winner %v, loser %v; want both MASTER", winner.State(), loser.State())
	}
	// Healed a while later (the winner announced last when it became
	// MASTER, or at its periodic refresh): its advert arrives first.
	now = now.Add(winner.MasterDownInterval() + time.Second)
	acts := loser.Step(now, advertFrom(higher, 200, time.Second))
	var last *SendAdvert
	for _, a := range acts {
		if s, ok := a.(SendAdvert); ok {
			last = &s
		}
	}
	if last == nil || last.Priority != 100 || loser.State() != StateBackup {
		t.Fatalf("the loser yielding: %v, state %v; want a last advert at 100, then BACKUP", acts, loser.State())
	}
	acts = winner.Step(now, advertFrom(lower, last.Priority, time.Second))
	announced := false
	for _, a := range acts {
		if _, ok := a.(Acquire); ok {
			announced = true
		}
	}
	if !announced {
		t.Fatalf("the winner hearing the loser's last advert: %v, want it to announce the VIPs (Acquire)", acts)
	}
	acts = loser.Step(now.Add(time.Millisecond), PeerAnnounced{Addr: vip.Addr()})
	released := false
	for _, a := range acts {
		if _, ok := a.(Release); ok {
			released = true
		}
	}
	if h := loser.LastHandover(); !released || h == nil || !h.Announced {
		t.Fatalf("the loser hearing the announcement: %v, handover %+v; want it released, announced", acts, h)
	}
}
