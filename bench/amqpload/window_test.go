package amqpload

import (
	"testing"
	"time"
)

// TestWindow: Mark is called once at the start and once at the end of the
// measured time, whatever the clock readings that follow say; an end
// marks a start that was not; no Mark is no call.
func TestWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	from, to := t0.Add(time.Second), t0.Add(3*time.Second)
	var calls []string
	w := window{mark: func() { calls = append(calls, "mark") }}
	for _, c := range []struct {
		now  time.Time
		want int
	}{{t0, 0}, {from.Add(-1), 0}, {from, 1}, {from.Add(time.Second), 1}, {to.Add(-1), 1}, {to, 2}, {to.Add(time.Second), 2}} {
		w.at(c.now, from, to)
		if len(calls) != c.want {
			t.Fatalf("at %v: %d marks, want %d", c.now.Sub(t0), len(calls), c.want)
		}
	}
	w.end()
	if len(calls) != 2 {
		t.Fatalf("end after the end: %d marks", len(calls))
	}

	// A clock reading past both edges marks both; a zero to leaves the
	// end to the load.
	calls = nil
	w = window{mark: func() { calls = append(calls, "mark") }}
	w.at(to, from, to)
	if len(calls) != 2 {
		t.Fatalf("a reading past both edges: %d marks, want 2", len(calls))
	}
	calls = nil
	w = window{mark: func() { calls = append(calls, "mark") }}
	w.at(to.Add(time.Hour), from, time.Time{})
	if len(calls) != 1 {
		t.Fatalf("zero to: %d marks, want 1 (the start)", len(calls))
	}
	w.end()
	if len(calls) != 2 {
		t.Fatalf("zero to, then end: %d marks, want 2", len(calls))
	}

	calls = nil
	w = window{mark: func() { calls = append(calls, "mark") }}
	w.end()
	if len(calls) != 2 {
		t.Fatalf("end without a start: %d marks, want 2", len(calls))
	}
	(&window{}).end() // no Mark: nothing to call, no panic
}
