package notify

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Prometheus metrics of one Runner, labelled with the
// instance name as a constant label so that several runners share one
// Registerer. A nil *metrics does nothing.
type metrics struct {
	runs *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, name string) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{runs: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "rmqlb", Subsystem: "notify", Name: "runs_total",
		Help:        "Notify hooks of a VRRP instance by state entered (master, backup, fault, stop) and result (ok, failed, timeout, error, dropped).",
		ConstLabels: prometheus.Labels{"vrrp_instance": name},
	}, []string{"state", "result"})}
	if err := reg.Register(m.runs); err != nil {
		return nil, err
	}
	// Every series exists from the start, at 0, as rmqlb's other
	// metrics: a rate over a series that appears late misses its first
	// runs.
	for _, k := range Kinds {
		for _, res := range []Result{ResultOK, ResultFailed, ResultTimeout, ResultError, ResultDropped} {
			m.runs.WithLabelValues(k.Key(), string(res))
		}
	}
	return m, nil
}

// count counts one run (or drop) of the hook of kind k.
func (m *metrics) count(k Kind, res Result) {
	if m != nil {
		m.runs.WithLabelValues(k.Key(), string(res)).Inc()
	}
}
