package netlab

import (
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ok := func(ms int, banner string) Attempt {
		return Attempt{Start: at(ms), OK: true, Latency: time.Millisecond, Banner: banner}
	}
	fail := func(ms int) Attempt { return Attempt{Start: at(ms), Err: "timeout"} }

	tests := []struct {
		name      string
		as        []Attempt
		end       time.Time
		outages   int
		longest   time.Duration
		failed    int
		recovered bool
		owners    []string
		maxGap    time.Duration
	}{
		{"none", []Attempt{ok(0, "h1"), ok(10, "h1"), ok(20, "h1")}, at(30), 0, 0, 0, false, []string{"h1"}, 10 * time.Millisecond},
		{"one failed connect is 10ms", []Attempt{ok(0, "h1"), fail(10), ok(20, "h2")}, at(30), 1, 10 * time.Millisecond, 1, true, []string{"h1", "h2"}, 10 * time.Millisecond},
		{"longest of two", []Attempt{ok(0, "h1"), fail(10), ok(20, "h1"), fail(30), fail(40), fail(50), ok(70, "h2")}, at(80), 2, 40 * time.Millisecond, 3, true, []string{"h1", "h2"}, 20 * time.Millisecond},
		{"not recovered", []Attempt{ok(0, "h1"), fail(10), fail(20)}, at(100), 1, 90 * time.Millisecond, 2, false, []string{"h1"}, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := summarise(tt.as, tt.end)
			if len(r.Outages) != tt.outages {
				t.Fatalf("outages = %+v, want %d", r.Outages, tt.outages)
			}
			if d := r.LongestOutage.Duration(); d != tt.longest {
				t.Errorf("longest = %v, want %v", d, tt.longest)
			}
			if tt.outages > 0 && (r.LongestOutage.Failed != tt.failed || r.LongestOutage.Recovered != tt.recovered) {
				t.Errorf("longest = %+v, want %d failed, recovered %v", r.LongestOutage, tt.failed, tt.recovered)
			}
			var owners []string
			for _, o := range r.Owners {
				owners = append(owners, o.Banner)
			}
			if len(owners) != len(tt.owners) {
				t.Fatalf("owners = %v, want %v", owners, tt.owners)
			}
			for i := range owners {
				if owners[i] != tt.owners[i] {
					t.Errorf("owners = %v, want %v", owners, tt.owners)
				}
			}
			if r.MaxStartGap != tt.maxGap {
				t.Errorf("max gap = %v, want %v", r.MaxStartGap, tt.maxGap)
			}
		})
	}
}

func TestFailoverOutage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ok := func(ms int, banner string) Attempt {
		return Attempt{Start: at(ms), OK: true, Latency: time.Millisecond, Banner: banner}
	}
	fail := func(ms int) Attempt { return Attempt{Start: at(ms), Err: "timeout"} }
	r := summarise([]Attempt{ok(0, "h1"), fail(10), ok(20, "h1"), ok(30, "h1"), fail(40), fail(50), ok(60, "h2"), ok(70, "h2")}, at(80))

	o, found := r.FailoverOutage(at(25), "h2")
	if !found || o.From != at(40) || o.To != at(60) || o.Failed != 2 {
		t.Errorf("FailoverOutage after the cut = %+v, %v; want 40ms..60ms, 2 failed", o, found)
	}
	o, found = r.FailoverOutage(at(65), "h2")
	if !found || o.Duration() != 0 || o.To != at(70) {
		t.Errorf("FailoverOutage with no failed connect = %+v, %v; want a zero outage at 70ms", o, found)
	}
	if _, found := r.FailoverOutage(at(0), "h3"); found {
		t.Error("FailoverOutage found an answer of h3, which never answered")
	}
}
