package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/vrrp"
)

// TestConfigValid checks every host's generated configuration, on both
// topologies, with the daemon's own parser, and the values the scenario
// relies on.
func TestConfigValid(t *testing.T) {
	for _, topo := range []topology{topologyThree, topologyBlog} {
		t.Run(string(topo), func(t *testing.T) { testConfigValid(t, layoutFor(topo)) })
	}
}

func testConfigValid(t *testing.T, l labLayout) {
	// Two nodes heal a partition by autoheal: the VIP must not move back
	// to rmq1 before it is done; rmq2 takes it at once when rmq1's broker
	// fails. Three nodes (pause_minority) need no delay.
	wantDelay := time.Duration(0)
	if l.Topology == topologyBlog {
		wantDelay = autohealPreemptDelay
	}
	lowest := l.Brokers[0].Priority
	for _, b := range l.Brokers {
		lowest = min(lowest, b.Priority)
	}
	for _, b := range l.Brokers {
		hostDelay := wantDelay
		if b.Priority == lowest {
			hostDelay = 0
		}
		c, err := config.Parse([]byte(l.rmqlbConfig(b, "/run/test.sock")))
		if err != nil {
			t.Fatalf("config of %s: %v", b.Name, err)
		}
		if len(c.VRRP) != 1 || len(c.Listeners) != 1 {
			t.Fatalf("config of %s: %d instances, %d listeners", b.Name, len(c.VRRP), len(c.Listeners))
		}
		v := c.VRRP[0]
		if int(v.Priority) != b.Priority || v.Version != 3 || v.AdvertInterval != 100*time.Millisecond {
			t.Errorf("config of %s: priority %d version %d advert %v", b.Name, v.Priority, v.Version, v.AdvertInterval)
		}
		if !v.Preempt || v.PreemptDelay != hostDelay {
			t.Errorf("config of %s: preempt %v, preempt_delay %v, want true, %v", b.Name, v.Preempt, v.PreemptDelay, hostDelay)
		}
		if len(v.Track) != 1 || v.Track[0].Backend.Name != b.Name || v.Track[0].Weight != -60 {
			t.Errorf("config of %s: track %+v", b.Name, v.Track)
		}
		if got := len(c.Listeners[0].Backends); got != len(l.Brokers) {
			t.Errorf("config of %s: %d backends", b.Name, got)
		}
	}
	// The track weight must move the VIP: master's priority plus weight
	// below the next host's.
	if p := l.Brokers[0].Priority + l.TrackWeight; p >= l.Brokers[1].Priority {
		t.Errorf("%d%+d = %d is not below %d", l.Brokers[0].Priority, l.TrackWeight, p, l.Brokers[1].Priority)
	}
	// The scenario waits for a preemption past the delay.
	if got, want := l.preemptWait(10*time.Second), 10*time.Second+wantDelay; got != want {
		t.Errorf("preemptWait(10s) = %v, want %v", got, want)
	}
}

// TestAutohealPreemptDelay keeps the two-node topology's preempt_delay
// above what autoheal was measured to take in this lab, with the margin
// its comment promises, and within what the VRRP instance accepts.
func TestAutohealPreemptDelay(t *testing.T) {
	// The longest time from the repair of a cut link to the losing broker
	// answering its checks again after autoheal restarted it, 20 cycles.
	const measuredHeal = 1820 * time.Millisecond
	if autohealPreemptDelay < 5*measuredHeal {
		t.Errorf("preempt_delay %v leaves less than five times the measured heal (%v)", autohealPreemptDelay, measuredHeal)
	}
	if autohealPreemptDelay > vrrp.MaxPreemptDelay {
		t.Errorf("preempt_delay %v is above vrrp.MaxPreemptDelay %v", autohealPreemptDelay, vrrp.MaxPreemptDelay)
	}
}

// msAfter returns t0 plus each of ms milliseconds.
func msAfter(t0 time.Time, ms ...int) []time.Time {
	var ts []time.Time
	for _, m := range ms {
		ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
	}
	return ts
}

func millis(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestLongestGap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time { return msAfter(t0, ms...) }
	for _, tc := range []struct {
		name     string
		ts       []time.Time
		from, to int
		want     time.Duration
	}{
		{"none", nil, 0, 1000, millis(1000)},
		{"steady", at(0, 100, 200, 300, 400), 0, 450, millis(100)},
		{"hole inside", at(0, 100, 900, 1000), 0, 1050, millis(800)},
		{"clipped at from", at(0, 2000, 2100), 1500, 2200, millis(500)},
		{"open at to", at(0, 100, 200), 0, 1200, millis(1000)},
		{"after window ignored", at(100, 5000), 0, 300, millis(200)},
	} {
		got := longestGap(tc.ts, t0.Add(millis(tc.from)), t0.Add(millis(tc.to)))
		if got != tc.want {
			t.Errorf("%s: longestGap = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRecovered: a panic on one of the lab's goroutines is reported and
// ends the run (its context), which then cleans up, instead of ending the
// process.
func TestRecovered(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out strings.Builder
	l := &lab{tl: newTimeline(&out), stopRun: cancel}
	l.progress = l.tl
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer l.recovered("producer")
		panic("boom")
	}()
	<-done
	if !l.panicked.Load() {
		t.Error("the panic was not recorded")
	}
	if ctx.Err() == nil {
		t.Error("the run was not cancelled")
	}
	if !strings.Contains(out.String(), "PANIC in the producer: boom") {
		t.Errorf("the panic was not reported:\n%s", out.String())
	}
	// Without a panic nothing happens.
	l2 := &lab{tl: newTimeline(&out)}
	func() { defer l2.recovered("consumer") }()
	if l2.panicked.Load() {
		t.Error("a goroutine that did not panic was recorded as panicked")
	}
}
