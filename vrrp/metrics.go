package vrrp

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Prometheus metrics of one Instance, labelled with the
// instance name as a constant label so that several instances share one
// Registerer. A nil *metrics does nothing.
type metrics struct {
	sent, received, sendErrors, ownerErrors, transitions   prometheus.Counter
	intervalClamped, rebinds, linkWatchErrors, ownerFaults prometheus.Counter
	dropped                                                *prometheus.CounterVec
	state, priority                                        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, name string) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	cl := prometheus.Labels{"instance": name}
	counter := func(n, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "rmqlb", Subsystem: "vrrp", Name: n, Help: help, ConstLabels: cl})
	}
	m := &metrics{
		sent:        counter("adverts_sent_total", "VRRP advertisements sent."),
		received:    counter("adverts_received_total", "VRRP packets received, dropped ones included."),
		sendErrors:  counter("send_errors_total", "VRRP advertisements that could not be sent."),
		ownerErrors: counter("owner_errors_total", "Failed or timed-out VIP acquire/release calls."),
		transitions: counter("transitions_total", "VRRP state changes."),
		intervalClamped: counter("interval_clamped_total",
			"VRRPv3 adverts whose interval was longer than the largest a backup adopts (max_adopted_advert_interval)."),
		ownerFaults: counter("owner_faults_total", "Times the VIP owner reported it could not hold the VIPs (the instance then goes to FAULT)."),
		rebinds:     counter("rebinds_total", "Times the VRRP socket followed its interface after it was deleted and created again."),
		linkWatchErrors: counter("link_watch_errors_total",
			"Errors of the netlink link subscription, each followed by a new subscription and a fresh read of the link."),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rmqlb", Subsystem: "vrrp",
			Name: "adverts_dropped_total", Help: "VRRP packets dropped, by reason.", ConstLabels: cl}, []string{"reason"}),
		state: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rmqlb", Subsystem: "vrrp", Name: "state",
			Help: "VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.", ConstLabels: cl}),
		priority: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rmqlb", Subsystem: "vrrp", Name: "effective_priority",
			Help: "Effective VRRP priority.", ConstLabels: cl}),
	}
	for _, c := range []prometheus.Collector{m.sent, m.received, m.sendErrors, m.ownerErrors, m.transitions, m.intervalClamped, m.rebinds, m.linkWatchErrors, m.ownerFaults, m.dropped, m.state, m.priority} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) inc(c func(*metrics) prometheus.Counter) {
	if m != nil {
		c(m).Inc()
	}
}

func (m *metrics) drop(reason string) {
	if m != nil {
		m.dropped.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) set(state State, prio uint8) {
	if m != nil {
		m.state.Set(float64(state))
		m.priority.Set(float64(prio))
	}
}
