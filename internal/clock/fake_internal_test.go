package clock

import (
	"slices"
	"testing"
	"time"
)

// TestFakeDueOrder checks the order in which Advance fires the timers that
// become due: by deadline, timers with equal deadlines in arming order.
func TestFakeDueOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		arm   []time.Duration // NewTimer durations in arming order, timer i is named i
		reset map[int]time.Duration
		to    time.Duration // Set(t0 + to)
		want  []int         // timers due, in firing order
	}{
		{"none due", []time.Duration{2, 3}, nil, 1, nil},
		{"by deadline", []time.Duration{3, 1, 2}, nil, 3, []int{1, 2, 0}},
		{"ties in arming order", []time.Duration{2, 1, 2, 1}, nil, 2, []int{1, 3, 0, 2}},
		{"only those due", []time.Duration{5, 1, 9, 2}, nil, 4, []int{1, 3}},
		{"reset re-arms last", []time.Duration{1, 1, 1}, map[int]time.Duration{0: 1}, 1, []int{1, 2, 0}},
		{"reset moves the deadline", []time.Duration{2, 3, 4}, map[int]time.Duration{2: 1}, 3, []int{2, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewFake(t0)
			var timers []*fakeTimer
			for _, d := range tt.arm {
				timers = append(timers, c.NewTimer(d*time.Second).(*fakeTimer))
			}
			for i, d := range tt.reset {
				timers[i].Reset(d * time.Second)
			}
			c.mu.Lock()
			c.now = t0.Add(tt.to * time.Second)
			due := c.dueLocked()
			pending := len(c.pending)
			c.mu.Unlock()
			var got []int
			for _, tm := range due {
				got = append(got, slices.Index(timers, tm))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("due %v, want %v", got, tt.want)
			}
			if pending != len(tt.arm)-len(tt.want) {
				t.Fatalf("%d pending after, want %d", pending, len(tt.arm)-len(tt.want))
			}
		})
	}
}
