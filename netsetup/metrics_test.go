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
