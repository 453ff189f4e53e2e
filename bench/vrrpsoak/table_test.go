package vrrpsoak

import (
	"strings"
	"testing"
	"time"
)

// TestWriteTable: one row per result, each CPU figure in its column: the
// master's with its real-time threads and its sender, a backup's apart.
func TestWriteTable(t *testing.T) {
	start := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	results := []Result{
		{Impl: "rmqlb", Interval: 10 * time.Millisecond, Start: start, End: start.Add(time.Minute),
			MasterCPU: 0.43, RealTimeCPU: 0.05, SenderCPU: 0.7, SenderRSSKiB: 12 << 10, MasterRSSKiB: 23 << 10, BackupCPU: 0.52},
		{Impl: "keepalived", Interval: 10 * time.Millisecond, Start: start, End: start.Add(time.Minute),
			MasterCPU: 0.63, RealTimeCPU: 0.63, MasterRSSKiB: 3 << 10, BackupCPU: 0.21},
		{Impl: "keepalived", Interval: 10 * time.Millisecond, Start: start, End: start.Add(time.Minute),
			VRRPRestarts: 3, VRRPProcessChanged: true, MasterRSSKiB: 3 << 10},
	}
	var b strings.Builder
	if err := WriteTable(&b, results); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want header, rule and 3 rows:\n%s", len(lines), b.String())
	}
	cells := func(line string) []string {
		var out []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			out = append(out, strings.TrimSpace(c))
		}
		return out
	}
	header := cells(lines[0])
	col := func(name string) int {
		for i, h := range header {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %q in %q", name, header)
		return -1
	}
	master, backup := col("master CPU % (real-time threads)"), col("backup CPU % (each)")
	for i, want := range [][2]string{
		{"0.43 (0.05) + sender 0.70", "0.52"},
		{"0.63 (0.63)", "0.21"},
		{"not measured: a VRRP process changed (3 VRRP process restarts)", "not measured"},
	} {
		row := cells(lines[2+i])
		if row[master] != want[0] || row[backup] != want[1] {
			t.Errorf("row %d: master CPU %q, backup CPU %q; want %q, %q", i, row[master], row[backup], want[0], want[1])
		}
	}
}

// TestWriteCuts: a row per result with cuts, sorted for the median and
// the max; a series that stopped says why, and one with no cut at all
// that stopped still has its row.
func TestWriteCuts(t *testing.T) {
	ms := time.Millisecond
	results := []Result{
		{Impl: "rmqlb", Interval: 10 * ms, Cuts: []time.Duration{31 * ms, 29 * ms, 30 * ms}},
		{Impl: "keepalived", Interval: 10 * ms, Cuts: []time.Duration{32 * ms, 30 * ms}, CutsError: "before cut 3: holders [h1 h2]"},
		{Impl: "rmqlb-late2", Interval: 10 * ms, CutsError: "before cut 1: holders []"},
		{Impl: "rmqlb-inline", Interval: 10 * ms}, // no cuts asked
	}
	var b strings.Builder
	if err := WriteCuts(&b, results); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	want := [][]string{
		{"rmqlb", "10ms", "3", "30", "31", "31 29 30"},
		{"keepalived", "10ms", "2", "31", "32", "32 30; then stopped: before cut 3: holders [h1 h2]"},
		{"rmqlb-late2", "10ms", "0", "-", "-", "stopped: before cut 1: holders []"},
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 2+len(want) {
		t.Fatalf("%d lines, want header, rule and %d rows:\n%s", len(lines), len(want), got)
	}
	for i, w := range want {
		var cells []string
		for _, c := range strings.Split(strings.Trim(lines[2+i], "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		if strings.Join(cells, "|") != strings.Join(w, "|") {
			t.Errorf("row %d: %q, want %q", i, cells, w)
		}
	}
}
