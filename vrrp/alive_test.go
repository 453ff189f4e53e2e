package vrrp

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// TestAlive: an instance before Run answers Alive at once; a running one
// answers through its loop; while the loop is held in a step (here an
// OnTransition that does not return, a bug the option's contract
// forbids) Alive is not answered and returns once its context is done,
// naming the instance; once the loop turns again it answers; after Run
// it answers at once.
func TestAlive(t *testing.T) {
	const mdi = 3609375 * time.Microsecond
	clk := clock.NewFake(t0)
	tr := newFakeTransport(local)
	entered, release := make(chan StateChange, 1), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	inst, err := NewInstance(testConfig(), Options{Transport: tr, Owner: newFakeOwner(), Clock: clk,
		OnTransition: func(c StateChange) {
			if c.To == StateMaster {
				entered <- c
				<-release
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	alive := func(within time.Duration) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		return inst.Alive(ctx)
	}
	if err := alive(time.Millisecond); err != nil {
		t.Fatalf("Alive before Run: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done, returned := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(returned)
		done <- inst.Run(ctx)
	}()
	t.Cleanup(func() {
		unblock()
		cancel()
		<-returned
	})
	clk.WaitArmed(t, t0.Add(mdi)) // BACKUP, waiting for the master down timer
	clk.DropArms()
	if err := alive(10 * time.Second); err != nil {
		t.Fatalf("Alive of a running instance: %v", err)
	}
	// Having answered, the loop arms its timer again from the time it
	// reads then: the time moves once it has.
	clk.NextArmWhere(t, func(a clock.Arm) bool { return a.At.Equal(t0.Add(mdi)) })

	// The master down timer fires: the loop steps to MASTER and is held
	// in OnTransition.
	clk.Advance(mdi)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no transition to MASTER")
	}
	err = alive(200 * time.Millisecond)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `VRRP instance "`+testConfig().Name+`" did not answer`) {
		t.Fatalf("Alive with the loop held: %v, want the instance named", err)
	}

	unblock()
	if err := alive(10 * time.Second); err != nil {
		t.Fatalf("Alive once the loop turns again: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if err := alive(time.Millisecond); err != nil {
		t.Fatalf("Alive after Run: %v", err)
	}
}
