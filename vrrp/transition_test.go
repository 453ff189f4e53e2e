package vrrp

import (
	"context"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestOnTransition: Options.OnTransition sees every state change of a run,
// in order, with its reason and the effective priority: INIT to BACKUP at
// start, BACKUP to MASTER when the master down timer fires, and MASTER to
// INIT when Run stops, reported before Run returns.
func TestOnTransition(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	changes := make(chan StateChange, 10)
	clk := clock.NewFake(t0)
	tr := newFakeTransport(local)
	inst, err := NewInstance(testConfig(), Options{Transport: tr, Owner: newFakeOwner(), Clock: clk,
		OnTransition: func(c StateChange) { changes <- c }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	clk.WaitArmed(t, t0.Add(mdi))
	clk.Advance(mdi)
	clk.WaitArmed(t, t0.Add(mdi+time.Second)) // MASTER: the advert timer
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	close(changes)
	want := []StateChange{
		{From: StateInit, To: StateBackup, Reason: "startup", Priority: 100},
		{From: StateBackup, To: StateMaster, Reason: "no advertisement heard within master down interval", Priority: 100},
		{From: StateMaster, To: StateInit, Reason: "shutdown", Priority: 100},
	}
	var got []StateChange
	for c := range changes {
		got = append(got, c)
	}
	if len(got) != len(want) {
		t.Fatalf("transitions %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("transition %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
