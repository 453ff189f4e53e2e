package clock_test

import (
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	_ clock.Clock = clock.Real{}
	_ clock.Clock = (*clock.Fake)(nil)
	_ clock.Clock = new(clock.Fake)
)

// timerStep is one operation on a timer and what it must return.
type timerStep struct {
	op   string        // "stop", "reset", "resetAt", "recv" (a value arrives) or "empty" (none waiting)
	d    time.Duration // for reset; for resetAt, the deadline's distance from the clock's time
	want bool          // result of stop and reset
}

// timerSemantics are the Go 1.23 Stop/Reset semantics, checked on Real and
// on Fake alike: only durations 0 (fires at once) and an hour (never fires
// during the test) are used, so the real clock needs no waiting.
var timerSemantics = []struct {
	name  string
	d     time.Duration // of NewTimer
	steps []timerStep
}{
	{"armed: stop once", time.Hour, []timerStep{
		{op: "stop", want: true}, {op: "stop", want: false}, {op: "empty"},
	}},
	{"stopped: reset re-arms", time.Hour, []timerStep{
		{op: "stop", want: true}, {op: "reset", d: time.Hour, want: false},
		{op: "reset", d: time.Hour, want: true}, {op: "stop", want: true}, {op: "empty"},
	}},
	{"fired and received", 0, []timerStep{
		{op: "recv"}, {op: "empty"}, {op: "stop", want: false},
		{op: "reset", d: time.Hour, want: false}, {op: "stop", want: true}, {op: "empty"},
	}},
	{"fired, not received: stop discards the value", 0, []timerStep{
		{op: "stop", want: true}, {op: "empty"}, {op: "stop", want: false}, {op: "empty"},
	}},
	{"fired, not received: reset discards the value", 0, []timerStep{
		{op: "reset", d: time.Hour, want: true}, {op: "empty"}, {op: "stop", want: true}, {op: "empty"},
	}},
	{"reset to zero after receive fires again", 0, []timerStep{
		{op: "recv"}, {op: "reset", d: 0, want: false}, {op: "recv"}, {op: "empty"},
	}},
	{"reset to zero before receive sends one value", 0, []timerStep{
		{op: "reset", d: 0, want: true}, {op: "recv"}, {op: "empty"}, {op: "stop", want: false},
	}},
	{"negative duration fires at once", -time.Second, []timerStep{
		{op: "recv"}, {op: "empty"}, {op: "reset", d: -time.Second, want: false}, {op: "recv"},
	}},
	{"armed: reset to zero fires", time.Hour, []timerStep{
		{op: "reset", d: 0, want: true}, {op: "recv"}, {op: "stop", want: false},
	}},
	{"resetAt a past deadline fires at once", time.Hour, []timerStep{
		{op: "resetAt", d: -time.Second, want: true}, {op: "recv"}, {op: "empty"},
		{op: "resetAt", d: 0, want: false}, {op: "recv"}, {op: "stop", want: false},
	}},
	{"resetAt a later deadline re-arms", 0, []timerStep{
		{op: "resetAt", d: time.Hour, want: true}, {op: "empty"},
		{op: "resetAt", d: time.Hour, want: true}, {op: "stop", want: true}, {op: "empty"},
	}},
}

func runTimerSemantics(t *testing.T, c clock.Clock) {
	for _, tt := range timerSemantics {
		t.Run(tt.name, func(t *testing.T) {
			tm := c.NewTimer(tt.d)
			defer tm.Stop()
			for i, s := range tt.steps {
				switch s.op {
				case "stop":
					if got := tm.Stop(); got != s.want {
						t.Fatalf("step %d: Stop() = %v, want %v", i, got, s.want)
					}
				case "reset":
					if got := tm.Reset(s.d); got != s.want {
						t.Fatalf("step %d: Reset(%v) = %v, want %v", i, s.d, got, s.want)
					}
				case "resetAt":
					at := c.Now().Add(s.d)
					if got := tm.ResetAt(at); got != s.want {
						t.Fatalf("step %d: ResetAt(%v) = %v, want %v", i, at, got, s.want)
					}
				case "recv":
					select {
					case <-tm.C():
					case <-time.After(5 * time.Second):
						t.Fatalf("step %d: no value received", i)
					}
				case "empty":
					select {
					case v := <-tm.C():
						t.Fatalf("step %d: stale value %v received", i, v)
					default:
					}
				default:
					t.Fatalf("step %d: unknown op %q", i, s.op)
				}
			}
		})
	}
}

func TestRealTimerSemantics(t *testing.T) { runTimerSemantics(t, clock.Real{}) }

func TestFakeTimerSemantics(t *testing.T) { runTimerSemantics(t, clock.NewFake(t0)) }

func TestRealNow(t *testing.T) {
	before := time.Now()
	got := clock.Real{}.Now()
	after := time.Now()
	if got.Before(before) || got.After(after) {
		t.Fatalf("Real.Now() = %v, not within [%v, %v]", got, before, after)
	}
}

func TestRealTimerChannelIsStable(t *testing.T) {
	tm := clock.Real{}.NewTimer(time.Hour)
	defer tm.Stop()
	c := tm.C()
	tm.Reset(0)
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatal("the channel returned before Reset received nothing")
	}
}

// TestNewTimerAt: on Real and on Fake, a deadline passed fires at once and
// one an hour ahead not during the test; Stop reports which.
func TestNewTimerAt(t *testing.T) {
	for name, c := range map[string]clock.Clock{"real": clock.Real{}, "fake": clock.NewFake(t0)} {
		t.Run(name, func(t *testing.T) {
			past := c.NewTimerAt(c.Now().Add(-time.Second))
			select {
			case <-past.C():
			case <-time.After(5 * time.Second):
				t.Fatal("a timer for a deadline passed did not fire")
			}
			if past.Stop() {
				t.Error("Stop of a received timer returned true")
			}
			ahead := c.NewTimerAt(c.Now().Add(time.Hour))
			select {
			case v := <-ahead.C():
				t.Fatalf("a timer an hour ahead fired: %v", v)
			default:
			}
			if !ahead.Stop() {
				t.Error("Stop of an armed timer returned false")
			}
		})
	}
}
