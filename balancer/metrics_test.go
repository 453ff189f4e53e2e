package balancer

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	rbackend "github.com/rmqlb/rmqlb/backend"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	l, err := NewListener(validConfig(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	l.SetBackendState("rmq2", rbackend.Down, "check failed")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "backend" {
					key += "/" + lp.GetValue()
				}
			}
			if g := m.GetGauge(); g != nil {
				got[key] = g.GetValue()
			}
		}
	}
	for k, want := range map[string]float64{
		"rmqlb_backend_up/rmq1": 1, "rmqlb_backend_up/rmq2": 0,
		"rmqlb_backend_weight/rmq1": 10, "rmqlb_listener_active_connections": 0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	// A second listener with another name registers on the same registry.
	c := validConfig()
	c.Name = "other"
	if _, err := NewListener(c, nil, reg); err != nil {
		t.Errorf("second listener: %v", err)
	}
}
