package healthcheck

import (
	"github.com/prometheus/client_golang/prometheus"
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
		}, []string{"backend", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rmqlb_healthcheck_duration_seconds",
			Help:    "Duration of health checks, by backend.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"backend"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rmqlb_backend_state",
			Help: "1 for the current effective state of each backend, 0 for the others.",
		}, []string{"backend", "state"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rmqlb_backend_weight_percent",
			Help: "Share of its configured weight a backend gets (below 100 during slow start).",
		}, []string{"backend"}),
	}
	for _, c := range []prometheus.Collector{m.checks, m.latency, m.state, m.weight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(backend string, r Result, lat interface{ Seconds() float64 }) {
	res := "pass"
	switch {
	case r.Err != nil:
		res = "fail"
	case r.Warning != "":
		res = "warn"
	}
	m.checks.WithLabelValues(backend, res).Inc()
	m.latency.WithLabelValues(backend).Observe(lat.Seconds())
}

func (m *Metrics) setState(e Event) {
	for i := range stateNames {
		v := 0.0
		if State(i) == e.State {
			v = 1
		}
		m.state.WithLabelValues(e.Backend, State(i).String()).Set(v)
	}
	m.weight.WithLabelValues(e.Backend).Set(float64(e.WeightPercent))
}
