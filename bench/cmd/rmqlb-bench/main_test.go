package main

import (
	"net/netip"
	"strings"
	"testing"

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

func TestMedianAndPairedRatio(t *testing.T) {
	if m, ok := median([]float64{3, 1, 2}); !ok || m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m, ok := median([]float64{4, 1, 2, 3}); !ok || m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if _, ok := median(nil); ok {
		t.Error("median of nothing is ok")
	}
	// Load drifts 10x between rounds; the paired ratio still sees 0.5.
	r, ok := pairedRatio([]float64{5, 0.5, 50}, []float64{10, 1, 100})
	if !ok || r != 0.5 {
		t.Errorf("pairedRatio = %v", r)
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		metric          string
		r, rd, rh       float64
		wantPrefix      string
		rok, rdok, rhok bool
	}{
		{mBulk1, 10, 0.95, 1.1, "met", true, true, true},
		{mBulk1, 10, 0.85, 1.1, "MISSED", true, true, true},
		{mBulk8, 10, 0.95, 0.99, "MISSED", true, true, true},
		{mRRRate, 10, 0, 1.0, "met", true, false, true},
		{mRRP99, 10, 0, 1.01, "MISSED", true, false, true},
		{mConnRate, 10, 0, 0.9, "MISSED", true, false, true},
		{mIdleRSS, 3.9, 0, 0, "met", true, false, false},
		{mIdleRSS, 4.1, 0, 0, "MISSED", true, false, false},
		{mIdleFDs, 2.0003, 0, 0, "met", true, false, false},
		{mIdleFDs, 2.5, 0, 0, "MISSED", true, false, false},
		{mRRP50, 10, 1, 1, "", true, true, true},
		{mBulk1, 0, 0, 0, "", false, false, false},
	}
	for _, tt := range tests {
		got := verdict(tt.metric, tt.r, tt.rok, tt.rd, tt.rh, tt.rdok, tt.rhok)
		if !strings.HasPrefix(got, tt.wantPrefix) || (tt.wantPrefix == "" && got != "") {
			t.Errorf("verdict(%s, %v, %v, %v) = %q, want prefix %q", tt.metric, tt.r, tt.rd, tt.rh, got, tt.wantPrefix)
		}
	}
}
