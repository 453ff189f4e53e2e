package balancer

import (
	"runtime"
	"testing"
	"time"
)

// TestProcessorsLentWhileRunning: a listener's loops are lent one
// processor each while Run runs, given back when it returns, and the
// listener proxies meanwhile.
func TestProcessorsLentWhileRunning(t *testing.T) {
	p := NewProcessors()
	before := runtime.GOMAXPROCS(0)
	if own := p.Own(); own != before {
		t.Fatalf("Own() = %d before any loop runs, want GOMAXPROCS %d", own, before)
	}
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 0, func(l *Listener) { l.UseProcessors(p) })
	if got := runtime.GOMAXPROCS(0); got != 2*before || p.Lent() != before || p.Own() != before {
		t.Errorf("while running with %d loops: GOMAXPROCS %d, lent %d, own %d; want %d, %d, %d",
			before, got, p.Lent(), p.Own(), 2*before, before, before)
	}
	c := r.dial(t)
	for range 100 {
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	r.stop(t)
	if got := runtime.GOMAXPROCS(0); got != before || p.Lent() != 0 {
		t.Errorf("after Run returned: GOMAXPROCS %d, lent %d; want %d, 0", got, p.Lent(), before)
	}
}

// TestIdleLoopGivesProcessorBack: a loop that had nothing to do for
// holdWaitMillis waits through the runtime's blocking path (it gives its
// processor back), a busy one does not, and the first event after an idle
// wait is served at once.
func TestIdleLoopGivesProcessorBack(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	r.mu.Lock()
	lp := r.loops[0]
	r.mu.Unlock()
	gaveBack := func() uint64 {
		n := make(chan uint64, 1)
		lp.post(func(lp *loop) {
			if !lp.holdP {
				t.Error("the tests' listeners should keep their processors")
			}
			n <- lp.gaveBack
		})
		return <-n
	}
	first := gaveBack()
	eventually(t, 5*time.Second, "an idle wait that gives the processor back", func() bool { return gaveBack() > first })
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("after idle")); err != nil {
		t.Fatal(err)
	}
	// Back-to-back round trips keep the loop busy: its waits end with
	// events well within holdWaitMillis (a loopback round trip takes well
	// under a millisecond; half is the slack for a loaded machine), so few give the
	// processor back (each round trip takes a few waits).
	const trips = 2000
	before := gaveBack()
	for range trips {
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	n := gaveBack() - before
	t.Logf("%d of the waits of %d round trips gave the processor back", n, trips)
	if n > trips/2 {
		t.Errorf("%d waits of %d busy round trips gave the processor back, want at most %d", n, trips, trips/2)
	}
}
