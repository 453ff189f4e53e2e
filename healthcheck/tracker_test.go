package healthcheck

import (
	"encoding/json"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
)

func TestTracker(t *testing.T) {
	var applied []int
	tr := NewTracker(func(d int) { applied = append(applied, d) })
	if err := tr.TrackBackend(bid("a"), 0); err == nil {
		t.Fatal("weight 0 accepted")
	}
	if err := tr.TrackNoneServing("none", nil, -5); err == nil {
		t.Fatal("empty backend list accepted")
	}
	tr.TrackBackend(bid("a"), -60)
	tr.TrackBackend(bid("b"), 20) // keepalived: a positive weight is added while the check passes
	tr.TrackNoneServing("listener", []backend.ID{bid("a"), bid("b")}, -100)
	if d := tr.Delta(); d != -160 {
		t.Fatalf("initial delta %d (a failing -60, b failing +0, none serving -100)", d)
	}
	ev := func(b string, st, health backend.State) Event {
		return Event{Backend: bid(b), State: st, Prev: st, Health: health}
	}
	steps := []struct {
		e    Event
		want int
	}{
		{ev("a", backend.Up, backend.Up), 0},              // a up; listener serves
		{ev("b", backend.Degraded, backend.Degraded), 20}, // b passes (degraded still passes)
		{ev("a", backend.Drain, backend.Up), 20},          // drain: a's health still UP; b serves
		{ev("b", backend.Down, backend.Down), -100},       // nothing serves, b's bonus gone
		{ev("a", backend.Maint, backend.Down), -160},      // a failing too
		{ev("a", backend.Up, backend.Up), 0},
		{ev("a", backend.Up, backend.Up), 0}, // no change: no call
	}
	for i, s := range steps {
		tr.Handle(s.e)
		if d := tr.Delta(); d != s.want {
			t.Fatalf("step %d: delta %d, want %d", i, d, s.want)
		}
	}
	if len(applied) != 5 {
		t.Fatalf("apply calls %v, want one per change", applied)
	}
	b, _ := json.Marshal(tr.Snapshot())
	if string(b) != `[{"rule":"l/a","weight":-60,"failing":false},{"rule":"l/b","weight":20,"failing":true},{"rule":"listener","weight":-100,"failing":false}]` {
		t.Fatalf("snapshot %s", b)
	}
}

func TestTrackerFlush(t *testing.T) {
	var applied []int
	tr := NewTracker(func(d int) { applied = append(applied, d) })
	tr.TrackBackend(bid("a"), -60)
	tr.Flush()
	tr.Handle(Event{Backend: bid("a"), State: backend.Up, Health: backend.Up})
	tr.Flush()
	if len(applied) != 3 || applied[0] != -60 || applied[1] != 0 || applied[2] != 0 {
		t.Fatalf("applied %v, want [-60 0 0]", applied)
	}
}
