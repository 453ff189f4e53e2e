package healthcheck

import (
	"encoding/json"
	"testing"
)

func TestTracker(t *testing.T) {
	var applied []int
	tr := NewTracker(func(d int) { applied = append(applied, d) })
	if err := tr.TrackBackend("a", 0); err == nil {
		t.Fatal("weight 0 accepted")
	}
	if err := tr.TrackNoneServing("none", nil, -5); err == nil {
		t.Fatal("empty backend list accepted")
	}
	tr.TrackBackend("a", -60)
	tr.TrackBackend("b", 20) // keepalived: a positive weight is added while the check passes
	tr.TrackNoneServing("listener", []string{"a", "b"}, -100)
	if d := tr.Delta(); d != -160 {
		t.Fatalf("initial delta %d (a failing -60, b failing +0, none serving -100)", d)
	}
	ev := func(b string, st, health State) Event { return Event{Backend: b, State: st, Prev: st, Health: health} }
	steps := []struct {
		e    Event
		want int
	}{
		{ev("a", StateUp, StateUp), 0},              // a up; listener serves
		{ev("b", StateDegraded, StateDegraded), 20}, // b passes (degraded still passes)
		{ev("a", StateDrain, StateUp), 20},          // drain: a's health still UP; b serves
		{ev("b", StateDown, StateDown), -100},       // nothing serves, b's bonus gone
		{ev("a", StateMaint, StateDown), -160},      // a failing too
		{ev("a", StateUp, StateUp), 0},
		{ev("a", StateUp, StateUp), 0}, // no change: no call
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
	if string(b) != `[{"rule":"a","weight":-60,"failing":false},{"rule":"b","weight":20,"failing":true},{"rule":"listener","weight":-100,"failing":false}]` {
		t.Fatalf("snapshot %s", b)
	}
}

func TestStateText(t *testing.T) {
	for s := StateDown; s <= StateMaint; s++ {
		b, _ := s.MarshalText()
		var back State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("%v: %s %v %v", s, b, back, err)
		}
	}
	if StateDown.Serving() || !StateDegraded.Serving() || StateDrain.Serving() {
		t.Fatal("Serving")
	}
	for in, want := range map[string]Admin{"": AdminNone, "none": AdminNone, "DRAIN": AdminDrain, "maint": AdminMaint} {
		if a, err := ParseAdmin(in); err != nil || a != want {
			t.Fatalf("ParseAdmin(%q) = %v, %v", in, a, err)
		}
	}
	if _, err := ParseAdmin("up"); err == nil {
		t.Fatal("ParseAdmin(up) accepted")
	}
}
