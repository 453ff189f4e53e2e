package main

import (
	"slices"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
)

// TestSoakTable checks the soak's table: one row per fault with medians and
// maxima over its cycles, sums, and the notes; the link cuts by where the
// queue's leader was.
func TestSoakTable(t *testing.T) {
	s := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	cs := []*cycleResult{
		{Row: "cut-owner", Fault: "cut-owner", Roles: []string{"VIP owner", "queue leader"}, ProducerOutage: s(3), ConsumerOutage: s(3.5),
			ProducerOutageRestore: s(0.1), ConsumerOutageRestore: s(0.7), DeliveryDelay: s(1), Confirmed: 100, Duplicates: 1,
			ProdReconnects: 2, ConsReconnects: 1, VIPTransitions: 3},
		{Row: "cut-owner", Fault: "cut-owner", Roles: []string{"VIP owner"}, ProducerOutage: s(1), ConsumerOutage: s(1.5),
			ProducerOutageRestore: s(0.2), ConsumerOutageRestore: s(0.1), DeliveryDelay: s(0.5), Confirmed: 50, Lost: 2,
			ProdReconnects: 1, ConsReconnects: 1, VIPTransitions: 3, FalseDowns: []string{"rmq2/rmq3"}},
		{Row: "freeze-broker", Fault: "freeze-broker", OutOfRotation: s(1.2), ProducerOutage: s(5), ConsumerOutage: s(5),
			PartitionsLeft: "rmq1 from [x]", Errors: []string{"boom"}},
		{Row: "cut-other", Fault: "cut-other", ProducerOutage: s(1), ConsumerOutage: s(1), Confirmed: 10,
			AppsLeftStopped: "rmq3: application not running"},
	}
	table := soakTable(cs, recommendedChecks)
	for _, tc := range []struct {
		row  string
		want []string
	}{
		{"cut-owner |", []string{"cut-owner", "2", "2.00 s / 3.00 s", "2.50 s / 3.50 s", "0.20 s / 0.70 s", "0.75 s / 1.00 s",
			"150", "2", "1", "3 / 2", "6", "-", "false DOWN: rmq2/rmq3"}},
		{"freeze-broker", []string{"freeze-broker", "1", "5.00 s / 5.00 s", "5.00 s / 5.00 s", "0.00 s / 0.00 s", "-",
			"0", "0", "0", "0 / 0", "0", "1.20 s / 1.20 s", "1 cycles with errors; 1 partitions RabbitMQ did not heal (app restarted)"}},
		{"cut-other |", []string{"cut-other", "1", "1.00 s / 1.00 s", "1.00 s / 1.00 s", "0.00 s / 0.00 s", "-",
			"10", "0", "0", "0 / 0", "0", "-", "1 cycles RabbitMQ left an application stopped (started)"}},
		{"cut-owner, queue leader behind", []string{"cut-owner, queue leader behind the cut", "1", "3.00 s / 3.00 s", "3.50 s / 3.50 s", "0"}},
		{"cut-owner, queue leader elsewhere", []string{"cut-owner, queue leader elsewhere", "1", "1.00 s / 1.00 s", "1.50 s / 1.50 s", "2"}},
	} {
		got, ok := benchstat.RowCells(table, tc.row)
		if !ok {
			t.Fatalf("no row %q in\n%s", tc.row, table)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("row %q:\n got %q\nwant %q", tc.row, got, tc.want)
		}
	}
}

// TestLongestDelay checks the longest time from confirm to delivery over
// the messages confirmed in a window, one not delivered counting up to the
// end given.
func TestLongestDelay(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tl := newTally()
	tl.confirm(1, at(0))
	tl.confirm(2, at(100))
	tl.confirm(3, at(200))
	tl.confirm(4, at(300))  // not received: outstanding, up to the end
	tl.confirm(5, at(1500)) // after the window
	tl.receive(1, at(50))
	tl.receive(2, at(2100))
	tl.receive(2, at(3000)) // a duplicate does not count
	tl.receive(3, at(250))
	if got := tl.longestDelay(at(0), at(1000), at(1000)); got != 2*time.Second {
		t.Errorf("longestDelay over all = %v, want 2s", got)
	}
	if got := tl.longestDelay(at(150), at(1000), at(1000)); got != 700*time.Millisecond {
		t.Errorf("longestDelay from 150ms = %v, want 700ms (message 4 outstanding at the end)", got)
	}
	// A message outstanding 9 s at the end of the cycle, with every
	// other delivered within 200 ms: 9 s, not 200 ms.
	tl = newTally()
	tl.confirm(1, at(0))
	tl.receive(1, at(200))
	tl.confirm(2, at(1000))
	if got := tl.longestDelay(at(0), at(10000), at(10000)); got != 9*time.Second {
		t.Errorf("longestDelay with a message outstanding 9s = %v, want 9s", got)
	}
	// Delivered after the cycle (recomputed after the drain): up to its
	// delivery.
	tl.receive(2, at(13000))
	if got := tl.longestDelay(at(0), at(10000), at(10000)); got != 12*time.Second {
		t.Errorf("longestDelay with a message delivered after the end = %v, want 12s", got)
	}
}

// TestUnwatched: a cycle whose watchers saw no VIP holder or no check
// before its fault is an error, not a cycle without transitions or false
// DOWNs.
func TestUnwatched(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fault := t0.Add(time.Minute)
	vips := []vipChange{{At: t0, Holders: []string{"rmq1"}}}
	checks := []checkChange{{At: t0, Host: "rmq1", Backend: "rmq2", State: "UP"}}
	if errs := unwatched(vips, checks, fault); len(errs) != 0 {
		t.Errorf("both watched: %q", errs)
	}
	late := []checkChange{{At: t0, Host: "rmq1", Backend: "rmq2", State: ""}, {At: fault.Add(time.Second), Host: "rmq1", Backend: "rmq2", State: "DOWN"}}
	for _, c := range []struct {
		name   string
		vips   []vipChange
		checks []checkChange
		want   int
	}{
		{"nothing", nil, nil, 2},
		{"no VIP record", nil, checks, 1},
		{"VIP seen only after the fault", []vipChange{{At: fault.Add(time.Second)}}, checks, 1},
		{"no check record", vips, nil, 1},
		{"checks seen only stopped or after the fault", vips, late, 1},
	} {
		if errs := unwatched(c.vips, c.checks, fault); len(errs) != c.want {
			t.Errorf("%s: %q, want %d errors", c.name, errs, c.want)
		}
	}
}

// TestAssignLost: a lost message counts in the cycle whose [start, end)
// holds its confirm, the window of the cycle's confirmed count; one
// confirmed before the first cycle, between two or after the last counts
// as outside any cycle.
func TestAssignLost(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	cs := []*cycleResult{{Start: at(0), End: at(10)}, {Start: at(12), End: at(20)}}
	outside := assignLost(cs, []time.Time{at(-1), at(5), at(10), at(11), at(15), at(25)})
	if cs[0].Lost != 1 || cs[1].Lost != 1 || outside != 4 {
		t.Errorf("lost per cycle %d, %d, outside %d; want 1, 1, 4", cs[0].Lost, cs[1].Lost, outside)
	}
}
