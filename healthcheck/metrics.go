package healthcheck

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/backend"
)

// Metrics are the Prometheus metrics of a Scheduler. Create them with NewMetrics and pass them
// in Options.Metrics.
type Metrics struct {
	checks  *prometheus.CounterVec
	latency *prometheus.HistogramVec
	state   *prometheus.GaugeVec
	weight  *prometheus.GaugeVec
}

// NewMetrics registers the health-check metrics with reg. A nil reg returns nil (no metrics).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rmqlb_healthcheck_checks_total",
			Help: "Health checks run, by backend and result (pass, warn, fail).",
		}, []string{"listener", "backend", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rmqlb_healthcheck_duration_seconds",
			Help:    "Duration of health checks, by backend.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"listener", "backend"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rmqlb_backend_state",
			Help: "1 for the current effective state of each backend, 0 for the others.",
		}, []string{"listener", "backend", "state"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rmqlb_backend_weight_percent",
			Help: "Share of its configured weight a backend gets (below 100 during slow start).",
		}, []string{"listener", "backend"}),
	}
	for _, c := range []prometheus.Collector{m.checks, m.latency, m.state, m.weight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(id backend.ID, r Result, lat interface{ Seconds() float64 }) {
	res := "pass"
	switch {
	case r.Err != nil:
		res = "fail"
	case r.Warning != "":
		res = "warn"
	}
	m.checks.WithLabelValues(id.Listener, id.Name, res).Inc()
	m.latency.WithLabelValues(id.Listener, id.Name).Observe(lat.Seconds())
}

func (m *Metrics) setState(e Event) {
	for _, st := range backend.States() {
		v := 0.0
		if st == e.State {
			v = 1
		}
		m.state.WithLabelValues(e.Backend.Listener, e.Backend.Name, st.String()).Set(v)
	}
	m.weight.WithLabelValues(e.Backend.Listener, e.Backend.Name).Set(float64(e.WeightPercent))
}

// forget deletes the series of a removed backend.
func (m *Metrics) forget(id backend.ID) {
	l := prometheus.Labels{"listener": id.Listener, "backend": id.Name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{m.checks, m.latency, m.state, m.weight} {
		v.DeletePartialMatch(l)
	}
}
