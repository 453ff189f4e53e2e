package netsetup

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// vipMetrics are the Prometheus metrics of one VIPSet. With a nil
// Registerer they are created but never registered, so callers need no nil
// checks.
type vipMetrics struct {
	held          prometheus.Gauge
	garpSent      prometheus.Counter
	garpErrors    prometheus.Counter
	acquireErrors prometheus.Counter
	releaseErrors prometheus.Counter
}

// newVIPMetrics creates the metrics labelled with the interface and the
// comma-separated VIPs (which tell two VIPSets apart) and registers them
// with reg when it is not nil. A collector already registered under the
// same labels is reused.
func newVIPMetrics(reg prometheus.Registerer, ifname, vips string) (*vipMetrics, error) {
	labels := prometheus.Labels{"interface": ifname, "vips": vips}
	m := &vipMetrics{
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "rmqlb", Subsystem: "vip", Name: "held",
			Help: "1 while the VIP set is acquired (this host is master), else 0.", ConstLabels: labels,
		}),
		garpSent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rmqlb", Subsystem: "vip", Name: "garp_sent_total",
			Help: "Announcements sent: gratuitous ARPs (IPv4) and unsolicited neighbour advertisements (IPv6).", ConstLabels: labels,
		}),
		garpErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rmqlb", Subsystem: "vip", Name: "garp_errors_total",
			Help: "Announcements that could not be sent.", ConstLabels: labels,
		}),
		acquireErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rmqlb", Subsystem: "vip", Name: "acquire_errors_total",
			Help: "Acquire calls that failed for at least one VIP.", ConstLabels: labels,
		}),
		releaseErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rmqlb", Subsystem: "vip", Name: "release_errors_total",
			Help: "Release calls that failed for at least one VIP.", ConstLabels: labels,
		}),
	}
	if reg == nil {
		return m, nil
	}
	m.held = register(reg, m.held).(prometheus.Gauge)
	m.garpSent = register(reg, m.garpSent).(prometheus.Counter)
	m.garpErrors = register(reg, m.garpErrors).(prometheus.Counter)
	m.acquireErrors = register(reg, m.acquireErrors).(prometheus.Counter)
	m.releaseErrors = register(reg, m.releaseErrors).(prometheus.Counter)
	for _, c := range []prometheus.Collector{m.held, m.garpSent, m.garpErrors, m.acquireErrors, m.releaseErrors} {
		if c == nil {
			return nil, fmt.Errorf("registering VIP metrics for %s: invalid collector", ifname)
		}
	}
	return m, nil
}

// register registers c, returning the already registered collector when
// there is one, or c itself when registration fails otherwise (the metric
// then simply is not exported).
func register(reg prometheus.Registerer, c prometheus.Collector) prometheus.Collector {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector
		}
	}
	return c
}
