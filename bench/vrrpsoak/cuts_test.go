package vrrpsoak

import (
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// TestFirstBackupAnswer: a cut's outage ends with the first answer of
// either backup (h3 first here: its timer fired first), and a probe that
// no backup answered has none.
func TestFirstBackupAnswer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	r := netlab.ProbeResult{
		Attempts: []netlab.Attempt{
			{Start: at(0), OK: true, Banner: "h1"},
			{Start: at(10)}, {Start: at(20)}, {Start: at(30)},
			{Start: at(40), OK: true, Banner: "h3"},
			{Start: at(50)},
			{Start: at(60), OK: true, Banner: "h2"},
		},
		Outages: []netlab.Outage{
			{From: at(10), To: at(40), Failed: 3, Recovered: true},
			{From: at(50), To: at(60), Failed: 1, Recovered: true},
		},
	}
	o, ok := firstBackupAnswer(r, at(5), "h2", "h3")
	if !ok || o.Duration() != 30*time.Millisecond || !o.To.Equal(at(40)) {
		t.Fatalf("outage %+v %v, want 10ms..40ms", o, ok)
	}
	if o, ok := firstBackupAnswer(r, at(5), "h2"); !ok || !o.To.Equal(at(60)) {
		t.Fatalf("h2 alone: outage %+v %v, want 50ms..60ms", o, ok)
	}
	if _, ok := firstBackupAnswer(r, at(5), "h4"); ok {
		t.Fatal("an answer from a host that never answered")
	}
}
