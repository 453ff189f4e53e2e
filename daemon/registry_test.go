package daemon

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPartRegistryUnregisterWrapped: a collector that a part registers and
// unregisters again through a registerer adding labels (as the VIP metrics
// do when a reload changes the VIPs) is forgotten by the part: the part
// holds only what is registered, however often that happens.
func TestPartRegistryUnregisterWrapped(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	part := newPartRegistry(reg)
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"vrrp_instance": "v"}, part)
	keep := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kept", Help: "Stays."})
	wrapped.MustRegister(keep)
	for i := range 100 {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "relabelled_total", Help: "Replaced.",
			ConstLabels: prometheus.Labels{"n": string(rune('a' + i%26))}})
		wrapped.MustRegister(c)
		if !wrapped.Unregister(c) {
			t.Fatalf("round %d: not unregistered", i)
		}
	}
	part.mu.Lock()
	n := len(part.cols)
	part.mu.Unlock()
	if n != 1 {
		t.Errorf("the part holds %d collectors after 100 registered and unregistered, want 1 (the one registered)", n)
	}
	part.unregisterAll()
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("after unregisterAll: %d families, %v", len(mfs), err)
	}
}
