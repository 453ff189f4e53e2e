package sendproc

import (
	"errors"
	"testing"
	"time"
)

// fakeClocks is one clock read two ways, as time.Now and as
// CLOCK_MONOTONIC, that advances by the next of gaps (then by the last)
// after each read: a thread preempted between reads.
type fakeClocks struct {
	t     int64
	gaps  []time.Duration
	reads int
}

func (c *fakeClocks) advance() {
	g := c.gaps[min(c.reads, len(c.gaps)-1)]
	c.reads++
	c.t += int64(g)
}

func (c *fakeClocks) now() time.Time {
	defer c.advance()
	return time.Unix(0, c.t)
}

func (c *fakeClocks) mono() (int64, error) {
	defer c.advance()
	return c.t, nil
}

// TestClockOrigin: the reading of CLOCK_MONOTONIC is never before the
// server's origin of time (the advert timer would expire early), and it
// is read again while a preempted thread leaves it far past the origin.
func TestClockOrigin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gaps  []time.Duration
		reads int           // clock reads wanted
		late  time.Duration // mono - epoch wanted
	}{
		{"no preemption", []time.Duration{time.Microsecond}, 3, time.Microsecond},
		{"preempted twice, then not", []time.Duration{5 * time.Millisecond, time.Microsecond, time.Microsecond, 3 * time.Millisecond, time.Microsecond, time.Microsecond, time.Microsecond},
			9, time.Microsecond},
		{"preempted every time: the last pair, late", []time.Duration{5 * time.Millisecond}, 3 * originTries, 5 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeClocks{t: 1e12, gaps: tc.gaps}
			epoch, mono, err := clockOrigin(c.now, c.mono)
			if err != nil {
				t.Fatal(err)
			}
			if late := time.Duration(mono - epoch.UnixNano()); late != tc.late {
				t.Errorf("CLOCK_MONOTONIC read %v after the origin, want %v", late, tc.late)
			}
			if c.reads != tc.reads {
				t.Errorf("%d clock reads, want %d", c.reads, tc.reads)
			}
		})
	}
}

func TestClockOriginError(t *testing.T) {
	bad := errors.New("no clock")
	_, _, err := clockOrigin(time.Now, func() (int64, error) { return 0, bad })
	if !errors.Is(err, bad) {
		t.Fatalf("error %v, want %v", err, bad)
	}
}
