package main

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/bench/benchstat"
	"github.com/rmqlb/rmqlb/config"
)

var testEP = endpoint{
	bulk: netip.MustParseAddrPort("10.88.0.1:5211"),
	echo: netip.MustParseAddrPort("10.88.0.1:7010"),
}

// TestRmqlbConfigIsValid keeps the generated config in step with package
// config: a proxy-only file with two listeners and no health checks.
func TestRmqlbConfigIsValid(t *testing.T) {
	cfg, err := config.Parse([]byte(rmqlbConfig(testEP, netip.MustParseAddr("10.88.0.2"), "/tmp/x.sock")))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	if len(cfg.VRRP) != 0 || len(cfg.Listeners) != 2 {
		t.Fatalf("want 0 VRRP instances and 2 listeners, got %d and %d", len(cfg.VRRP), len(cfg.Listeners))
	}
	for _, l := range cfg.Listeners {
		if len(l.Backends) != 1 || l.Backends[0].Check.Type != config.CheckNone {
			t.Errorf("listener %s: backends %+v", l.Name, l.Backends)
		}
	}
	if cfg.Listeners[0].Bind != testEP.bulk || cfg.Listeners[1].Bind != testEP.echo {
		t.Errorf("binds %s, %s", cfg.Listeners[0].Bind, cfg.Listeners[1].Bind)
	}
}

func TestHAProxyConfig(t *testing.T) {
	c := haproxyConfig(testEP, netip.MustParseAddr("10.88.0.2"), 3, false)
	for _, want := range []string{
		"mode tcp", "option splice-request", "option splice-response", "maxconn 7500", "nbthread 3",
		"bind 10.88.0.1:5211\n", "server s1 10.88.0.2:5201", "bind 10.88.0.1:7010\n", "server s1 10.88.0.2:7000",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("haproxy config lacks %q:\n%s", want, c)
		}
	}
	if strings.Contains(c, "defer-accept") {
		t.Errorf("haproxy config without defer-accept has it:\n%s", c)
	}
	c = haproxyConfig(testEP, netip.MustParseAddr("10.88.0.2"), 3, true)
	for _, want := range []string{"bind 10.88.0.1:5211 defer-accept\n", "bind 10.88.0.1:7010 defer-accept\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("haproxy config with defer-accept lacks %q:\n%s", want, c)
		}
	}
}

// TestPrintTable checks the table's columns and cells: each figure's
// median over the kept rounds, the median of their per-round ratios and
// the ratios' range, and "-" where a figure or ratio is missing. The
// fourth round, taken while other work was busy, counts in no cell.
func TestPrintTable(t *testing.T) {
	quiet := roundLoad{start: "1.00 1.00 1.00", end: "2.00 1.00 1.00", others: 0.1, kept: true}
	b := &bench{
		o:          options{rounds: 4, targets: []string{"direct", "rmqlb", "haproxy"}, idleConns: 3000, maxLoad: 0.5},
		rmqlbBuild: "given binary",
		rounds:     []roundLoad{quiet, quiet, quiet, {start: "9.00 9.00 9.00", end: "9.00 9.00 9.00", others: 1.7}},
		results: map[string]map[string][]float64{
			"direct":  {mBulk1: {10, 12, 11, 1}},
			"rmqlb":   {mBulk1: {5, 9, 6.6, 100}, mIdleFDs: {2, 2, 2, 9}},
			"haproxy": {mBulk1: {5, 6, 6, 1}, mIdleFDs: {2, 2, 2, 1}},
		},
	}
	var out strings.Builder
	b.print(&out, time.Minute)
	cells := func(prefix string) []string {
		t.Helper()
		cs, ok := benchstat.RowCells(out.String(), prefix)
		if !ok {
			t.Fatalf("no table row %q in:\n%s", prefix, out.String())
		}
		return cs
	}
	for _, tc := range []struct {
		row  string
		want []string
	}{
		{"metric", []string{"metric", "direct", "rmqlb", "haproxy", "rmqlb/direct", "rmqlb/haproxy", "rmqlb/haproxy min-max"}},
		// Medians 11, 6.6, 6; per-round ratios 0.5, 0.75, 0.6 and 1, 1.5, 1.1.
		{mBulk1, []string{mBulk1, "11.0", "6.60", "6.00", "0.60", "1.10", "1.00-1.50"}},
		{mIdleFDs, []string{mIdleFDs, "-", "2.00", "2.00", "-", "1.00", "1.00-1.00"}},
		{mConnRate, []string{mConnRate, "-", "-", "-", "-", "-", "-"}},
	} {
		if got := cells(strings.TrimSpace(tc.row)); !slices.Equal(got, tc.want) {
			t.Errorf("row %q = %q, want %q", tc.row, got, tc.want)
		}
	}
	if want := fmt.Sprintf("  %-8s %-42s %s", "rmqlb", mBulk1, "5.00  9.00  6.60  100"); !strings.Contains(out.String(), want) {
		t.Errorf("per-round figures of rmqlb (every round) missing:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "round 4: other work kept 1.70 CPUs busy") || !strings.Contains(out.String(), "LEFT OUT") {
		t.Errorf("the busy round is not shown as left out:\n%s", out.String())
	}

	// No quiet round: no table at all.
	for i := range b.rounds {
		b.rounds[i].kept = false
	}
	out.Reset()
	b.print(&out, time.Minute)
	if strings.Contains(out.String(), "| metric") || !strings.Contains(out.String(), "no round was quiet enough") {
		t.Errorf("a table was printed from busy rounds only:\n%s", out.String())
	}
}

func TestKeepAndRatioRange(t *testing.T) {
	v := []float64{1, 2, 3, 4}
	if got := keep(v, []bool{true, false, true}); !slices.Equal(got, []float64{1, 3}) {
		t.Errorf("keep = %v, want [1 3]", got)
	}
	lo, hi, ok := ratioRange([]float64{2, 3, 8}, []float64{1, 0, 4})
	if !ok || lo != 2 || hi != 2 {
		t.Errorf("ratioRange = %v %v %v, want 2 2 true (a zero divisor skipped)", lo, hi, ok)
	}
	lo, hi, ok = ratioRange([]float64{1, 3}, []float64{2, 2})
	if !ok || lo != 0.5 || hi != 1.5 {
		t.Errorf("ratioRange = %v %v %v, want 0.5 1.5 true", lo, hi, ok)
	}
	if _, _, ok := ratioRange(nil, nil); ok {
		t.Error("ratioRange of nothing is ok")
	}
}

func TestParsePerfCount(t *testing.T) {
	out := "# started on Mon Nov 30 13:00:00 2026\n\n123456,,raw_syscalls:sys_enter,2000000000,100.00,,\n"
	if n, err := parsePerfCount(out, "raw_syscalls:sys_enter"); err != nil || n != 123456 {
		t.Errorf("parsePerfCount = %d, %v; want 123456", n, err)
	}
	if _, err := parsePerfCount("<not counted>,,raw_syscalls:sys_enter,0,0.00,,\n", "raw_syscalls:sys_enter"); err == nil {
		t.Error("a count that is not a number was taken")
	}
	if _, err := parsePerfCount("", "raw_syscalls:sys_enter"); err == nil {
		t.Error("no line, no error")
	}
}

func TestOthersUntil(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := cpuSample{at: t0, busy: 10 * time.Second, own: 4 * time.Second}
	// 10 s of wall time: the machine was busy 14 s, the bench 9 s of them.
	e := cpuSample{at: t0.Add(10 * time.Second), busy: 24 * time.Second, own: 13 * time.Second}
	if got := s.othersUntil(e); got < 0.499 || got > 0.501 {
		t.Errorf("othersUntil = %v, want 0.5 CPUs", got)
	}
	// The bench's own figure may run ahead of the machine's (coarser ticks).
	e.own = 30 * time.Second
	if got := s.othersUntil(e); got != 0 {
		t.Errorf("othersUntil = %v, want 0 when own exceeds busy", got)
	}
}

func TestMachineBusyAndProcCPU(t *testing.T) {
	if machineBusy() <= 0 {
		t.Error("machineBusy read no busy time from /proc/stat")
	}
	// Burn a little CPU so that this process has some to show.
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	if procCPU(os.Getpid()) <= 0 {
		t.Error("procCPU read no CPU time of this process")
	}
	if procCPU(-1) != 0 {
		t.Error("procCPU of no process is not 0")
	}
}

// TestPrintTableHAProxyDeferAccept checks the haproxy-da column: its own
// medians after HAProxy's, its per-round figures, and the ratio columns
// still rmqlb's against plain HAProxy.
func TestPrintTableHAProxyDeferAccept(t *testing.T) {
	quiet := roundLoad{start: "1.00 1.00 1.00", end: "1.00 1.00 1.00", kept: true}
	b := &bench{
		o:      options{rounds: 2, targets: []string{"rmqlb", "haproxy", "haproxy-da"}, maxLoad: 0.5},
		rounds: []roundLoad{quiet, quiet},
		results: map[string]map[string][]float64{
			"rmqlb":      {mConnRate: {7, 8}},
			"haproxy":    {mConnRate: {7, 4}},
			"haproxy-da": {mConnRate: {3, 5}},
		},
	}
	var out strings.Builder
	b.print(&out, time.Minute)
	for _, tc := range []struct {
		row  string
		want []string
	}{
		{"metric", []string{"metric", "rmqlb", "haproxy", "haproxy-da", "rmqlb/direct", "rmqlb/haproxy", "rmqlb/haproxy min-max"}},
		// Medians 7.5, 5.5, 4; per-round rmqlb/HAProxy ratios 1 and 2.
		{mConnRate, []string{mConnRate, "7.50", "5.50", "4.00", "-", "1.50", "1.00-2.00"}},
	} {
		cs, ok := benchstat.RowCells(out.String(), tc.row)
		if !ok || !slices.Equal(cs, tc.want) {
			t.Errorf("row %q = %q, want %q in:\n%s", tc.row, cs, tc.want, out.String())
		}
	}
	if want := fmt.Sprintf("  %-8s %-42s %s", "haproxy-da", mConnRate, "3.00  5.00"); !strings.Contains(out.String(), want) {
		t.Errorf("per-round figures of haproxy-da missing:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "haproxy-da: the same with defer-accept") {
		t.Errorf("the header does not say what haproxy-da is:\n%s", out.String())
	}
}
