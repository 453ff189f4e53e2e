package vrrp

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestPolledLoopNetns: with a real transport and no real-time priority,
// the instance's loop reads the socket itself and waits in the runtime's
// poller (no read loop hands adverts over); cancelling Run's context
// wakes it long before the machine's next deadline, and adverts heard
// meanwhile are handled by it.
func TestPolledLoopNetns(t *testing.T) {
	n := newTestNetns(t)
	cfg := func(i int, prio uint8, iv time.Duration) Config {
		return testConfig(func(c *Config) {
			c.Interface = n.ifname[i]
			c.Priority = prio
			c.AdvertInterval = iv
			c.VIPs = []netip.Prefix{netip.MustParsePrefix("10.99.7.101/24")}
		})
	}
	// A master at 100 ms, and a backup whose own interval (40 s) would
	// put its master-down deadline two minutes away were it not hearing
	// the master (it uses the master's interval then).
	mcfg := cfg(0, 150, 100*time.Millisecond)
	master, err := NewInstance(mcfg, Options{Transport: n.transport(t, 0, TransportConfig{Exclude: mcfg.vipAddrs()}), Owner: newFakeOwner()})
	if err != nil {
		t.Fatal(err)
	}
	mctx, mstop := context.WithCancel(context.Background())
	mdone := make(chan error, 1)
	go func() { mdone <- master.Run(mctx) }()
	t.Cleanup(func() { mstop(); <-mdone })
	waitSnapshot(t, master, "master", func(s Snapshot) bool { return s.State == StateMaster })

	bcfg := cfg(1, 100, 40*time.Second)
	backup, err := NewInstance(bcfg, Options{Transport: n.transport(t, 1, TransportConfig{Exclude: bcfg.vipAddrs()}), Owner: newFakeOwner()})
	if err != nil {
		t.Fatal(err)
	}
	bctx, bstop := context.WithCancel(context.Background())
	bdone := make(chan error, 1)
	go func() { bdone <- backup.Run(bctx) }()
	t.Cleanup(func() { bstop(); <-bdone })
	waitSnapshot(t, backup, "backup hearing the master", func(s Snapshot) bool {
		return s.State == StateBackup && s.Counters.AdvertsReceived >= 5
	})
	if stacks := goroutines(); strings.Contains(stacks, "vrrp.startReader") {
		t.Error("a read loop runs beside the polled loop")
	}
	// Between two adverts the loop waits in the poller; a read in
	// progress shows as running for a moment.
	var state string
	for deadline := time.Now().Add(5 * time.Second); state != "IO wait" && time.Now().Before(deadline); {
		time.Sleep(3 * time.Millisecond)
		state = goroutineState("vrrp.(*Instance).runPolled(")
	}
	if state != "IO wait" {
		t.Errorf("the polled loop waits in state %q, want IO wait (the poller)", state)
	}
	// A kick (here the cancelled context) ends the wait at once, not at
	// the next advert or deadline: stop the master first, so that no
	// advert wakes the backup, and give the backup a deadline far away.
	mstop()
	if err := <-mdone; err != nil {
		t.Fatal(err)
	}
	mdone <- nil // for Cleanup
	waitSnapshot(t, backup, "backup after the master's priority 0", func(s Snapshot) bool { return s.State == StateMaster })
	// MASTER at 40 s adverts: its next deadline is 40 s away.
	start := time.Now()
	bstop()
	select {
	case err := <-bdone:
		if err != nil {
			t.Fatal(err)
		}
		bdone <- nil
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return when its context was cancelled: the kick did not end the wait")
	}
	t.Logf("Run returned %v after its context was cancelled", time.Since(start))
}

// waitSnapshot polls inst's snapshot until ok (real time: the protocol
// runs on it).
func waitSnapshot(t *testing.T, inst *Instance, what string, ok func(Snapshot) bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !ok(inst.Snapshot()); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: snapshot %+v", what, inst.Snapshot())
		}
	}
}

// goroutines returns every goroutine's stack.
func goroutines() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// goroutineState returns the state of the first goroutine whose stack has
// fn ("" if none): "IO wait", "running", ...
func goroutineState(fn string) string {
	for g := range strings.SplitSeq(goroutines(), "\n\n") {
		if !strings.Contains(g, fn) {
			continue
		}
		head, _, _ := strings.Cut(g, "\n")
		_, st, ok := strings.Cut(head, "[")
		if !ok {
			return ""
		}
		st, _, _ = strings.Cut(st, "]")
		st, _, _ = strings.Cut(st, ",") // "IO wait, 2 minutes"
		return st
	}
	return ""
}

// TestPolledLoopSaysAliveNetns: a MASTER whose adverts an AdvertSender
// sends wakes on the socket's read deadline to say it is alive within
// AliveWithin, time after time, though nothing else wakes it.
func TestPolledLoopSaysAliveNetns(t *testing.T) {
	n := newTestNetns(t)
	c := testConfig(func(c *Config) {
		c.Interface = n.ifname[0]
		c.Priority = 255 // the address owner: MASTER at startup
		c.AdvertInterval = 100 * time.Millisecond
		c.VIPs = []netip.Prefix{netip.MustParsePrefix(n.addr[0].String() + "/24")}
	})
	snd := &fakeSender{log: &eventLog{}}
	snd.sending.Store(true)
	// Longer than the interval, as Sender's: the loop skips the advert
	// deadlines and wakes to say it is alive.
	snd.within.Store(int64(250 * time.Millisecond))
	inst, err := NewInstance(c, Options{Transport: n.transport(t, 0, TransportConfig{}), Owner: newFakeOwner(), Sender: snd})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	waitSnapshot(t, inst, "master", func(s Snapshot) bool { return s.State == StateMaster })
	start, alive0 := time.Now(), snd.alive.Load()
	time.Sleep(3 * time.Second)
	got, d := snd.alive.Load()-alive0, time.Since(start)
	// Every 250 ms; a loop that misses its wake-ups says it far less
	// often (nothing else wakes it).
	if want := int64(d / (500 * time.Millisecond)); got < want {
		t.Fatalf("said alive %d times in %v, want at least %d (every 250 ms)", got, d, want)
	}
	t.Logf("said alive %d times in %v", got, d)
}
