package netsetup

import (
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestVIPMetricsNamesAndLabels: a VIPSet's metrics are named rmqlb_vip_*,
// labelled with its interface and VIPs (and what the caller's Registerer
// adds: the daemon adds vrrp_instance), exist before the first Acquire,
// and pass the lint; two VIPSets share one registry. Creating a VIPSet
// does no network I/O.
func TestVIPMetricsNamesAndLabels(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	cfg := VIPConfig{Interface: "eth9", VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("2001:db8::10/128")}}
	if _, err := NewVIPSet(cfg, nil, prometheus.WrapRegistererWith(prometheus.Labels{"vrrp_instance": "v1"}, reg)); err != nil {
		t.Fatal(err)
	}
	cfg2 := VIPConfig{Interface: "eth9", VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.20/32")}}
	if _, err := NewVIPSet(cfg2, nil, prometheus.WrapRegistererWith(prometheus.Labels{"vrrp_instance": "v2"}, reg)); err != nil {
		t.Fatal(err)
	}
	mfs := metricstest.Gather(t, reg)
	names := []string{
		"rmqlb_vip_held", "rmqlb_vip_garp_sent_total", "rmqlb_vip_garp_errors_total", "rmqlb_vip_acquire_errors_total",
		"rmqlb_vip_release_errors_total", "rmqlb_vip_readded_total", "rmqlb_vip_faults_total",
	}
	want := map[string][]string{}
	for _, name := range names {
		want[name] = []string{"interface", "vips", "vrrp_instance"}
	}
	metricstest.RequireFamilies(t, mfs, want)
	for _, name := range names {
		for inst, vips := range map[string]string{"v1": "192.0.2.10/32,2001:db8::10/128", "v2": "192.0.2.20/32"} {
			if v := metricstest.Value(t, mfs, name, map[string]string{"vrrp_instance": inst, "interface": "eth9", "vips": vips}); v != 0 {
				t.Errorf("%s of %s before Acquire = %v, want 0", name, inst, v)
			}
		}
	}
	metricstest.RequireClean(t, reg)
}

// TestVIPMetricsFollowUpdate: an Update that changes the VIPs relabels
// the VIPSet's metrics with the new list, their values carried over: no
// series is left that names a VIP the set no longer has, and the
// registry holds one set of series per VIPSet however often its VIPs
// change.
func TestVIPMetricsFollowUpdate(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a, b := netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("192.0.2.11/32")
	s, err := NewVIPSet(VIPConfig{Interface: "eth9", VIPs: []netip.Prefix{a}}, nil,
		prometheus.WrapRegistererWith(prometheus.Labels{"vrrp_instance": "v1"}, reg))
	if err != nil {
		t.Fatal(err)
	}
	s.m.inc(vipGarpSent)
	s.m.inc(vipGarpSent)
	s.m.inc(vipFaults)
	for i, vips := range [][]netip.Prefix{{a, b}, {b}, {a, b}, {a}} {
		// Not held: Update changes the configuration only (no
		// network I/O).
		if err := s.Update(VIPConfig{Interface: "eth9", VIPs: vips}); err != nil {
			t.Fatalf("update %d to %v: %v", i, vips, err)
		}
		mfs := metricstest.Gather(t, reg)
		want := vipsLabel(vips)
		for name, mf := range mfs {
			if len(mf.GetMetric()) != 1 {
				t.Fatalf("update %d: %s has %d series, want 1", i, name, len(mf.GetMetric()))
			}
			for _, lp := range mf.GetMetric()[0].GetLabel() {
				if lp.GetName() == "vips" && lp.GetValue() != want {
					t.Errorf("update %d: %s labelled vips=%q, want %q", i, name, lp.GetValue(), want)
				}
			}
		}
		labels := map[string]string{"vrrp_instance": "v1", "interface": "eth9", "vips": want}
		if v := metricstest.Value(t, mfs, "rmqlb_vip_garp_sent_total", labels); v != 2 {
			t.Errorf("update %d: garp_sent_total %v, want 2 carried over", i, v)
		}
		if v := metricstest.Value(t, mfs, "rmqlb_vip_faults_total", labels); v != 1 {
			t.Errorf("update %d: faults_total %v, want 1 carried over", i, v)
		}
	}
	metricstest.RequireClean(t, reg)
}
