package main

import (
	"net/netip"
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
	c := haproxyConfig(testEP, netip.MustParseAddr("10.88.0.2"))
	for _, want := range []string{
		"mode tcp", "option splice-request", "option splice-response", "maxconn 7500",
		"bind 10.88.0.1:5211", "server s1 10.88.0.2:5201", "bind 10.88.0.1:7010", "server s1 10.88.0.2:7000",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("haproxy config lacks %q:\n%s", want, c)
		}
	}
	if strings.Contains(c, "nbthread") && !strings.Contains(c, "# default nbthread") {
		t.Errorf("haproxy config sets nbthread; the benchmark uses the default")
	}
}

// TestPrintTable checks the table's columns and cells: each figure's
// median over the rounds and the median of the per-round ratios, and "-"
// where a figure or ratio is missing.
func TestPrintTable(t *testing.T) {
	b := &bench{
		o:          options{rounds: 3, targets: []string{"direct", "rmqlb", "haproxy"}, idleConns: 3000},
		rmqlbBuild: "given binary",
		loads:      []string{"1.00 1.00 1.00", "1.10 1.00 1.00", "1.20 1.00 1.00"},
		results: map[string]map[string][]float64{
			"direct":  {mBulk1: {10, 12, 11}},
			"rmqlb":   {mBulk1: {5, 9, 6.6}, mIdleFDs: {2, 2, 2}},
			"haproxy": {mBulk1: {5, 6, 6}, mIdleFDs: {2, 2, 2}},
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
		{"metric", []string{"metric", "direct", "rmqlb", "haproxy", "rmqlb/direct", "rmqlb/haproxy"}},
		// Medians 11, 6.6, 6; per-round ratios 0.5, 0.75, 0.6 and 1, 1.5, 1.1.
		{mBulk1, []string{mBulk1, "11.0", "6.60", "6.00", "0.60", "1.10"}},
		{mIdleFDs, []string{mIdleFDs, "-", "2.00", "2.00", "-", "1.00"}},
		{mConnRate, []string{mConnRate, "-", "-", "-", "-", "-"}},
	} {
		if got := cells(strings.TrimSpace(tc.row)); !slices.Equal(got, tc.want) {
			t.Errorf("row %q = %q, want %q", tc.row, got, tc.want)
		}
	}
	if !strings.Contains(out.String(), "rmqlb    bulk 1 stream (Gbit/s)                 5.00  9.00  6.60") {
		t.Errorf("per-round figures of rmqlb missing:\n%s", out.String())
	}
}
