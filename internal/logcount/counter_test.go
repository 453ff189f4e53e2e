package logcount

import (
	"sync"
	"testing"
	"time"
)

// TestCounter: the first event is logged at once, the next ones at most
// every Every, each log counting the events since the last.
func TestCounter(t *testing.T) {
	var c Counter
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, step := range []struct {
		at   time.Duration
		n    int
		want bool
	}{
		{0, 1, true},
		{time.Second, 0, false},
		{9 * time.Second, 0, false},
		{10 * time.Second, 3, true},
		{11 * time.Second, 0, false},
	} {
		if n, ok := c.Count(t0.Add(step.at)); n != step.n || ok != step.want {
			t.Fatalf("at %v: %d, %v; want %d, %v", step.at, n, ok, step.n, step.want)
		}
	}
}

// TestCounterAdd: a batch counts as its size, an empty one as nothing,
// and either logs when it is time.
func TestCounterAdd(t *testing.T) {
	var c Counter
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if n, ok := c.Add(t0, 5); n != 5 || !ok {
		t.Fatalf("first batch: %d, %v; want 5, true", n, ok)
	}
	if n, ok := c.Add(t0.Add(time.Second), 2); n != 0 || ok {
		t.Fatalf("batch within Every: %d, %v; want 0, false", n, ok)
	}
	if n, ok := c.Add(t0.Add(Every), 0); n != 2 || !ok {
		t.Fatalf("empty batch after Every: %d, %v; want 2, true", n, ok)
	}
}

// TestSyncCounter: events counted from several goroutines at once are
// each counted once: those logged add up to all of them.
func TestSyncCounter(t *testing.T) {
	var c SyncCounter
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const goroutines, each = 8, 100
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				c.Count(t0)
			}
		})
	}
	wg.Wait()
	// The first event was logged at once; the others come with this one.
	n, ok := c.Count(t0.Add(Every))
	if !ok || n != goroutines*each {
		t.Fatalf("after %d events and one more: %d logged, %v; want the %d after the first", goroutines*each, n, ok, goroutines*each)
	}
}
