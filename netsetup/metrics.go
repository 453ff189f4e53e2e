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
	readded       prometheus.Counter
	faults        prometheus.Counter
}

// newVIPMetrics creates the metrics labelled with the interface and the
// comma-separated VIPs (which tell two VIPSets apart) and registers them
// with reg when it is not nil. A collector already registered under the
// same labels is reused.
func newVIPMetrics(reg prometheus.Registerer, ifname, vips string) (*vipMetrics, error) {
	labels := prometheus.Labels{"interface": ifname, "vips": vips}
	// counter creates a counter, or returns the one already registered
	// under the same name and labels.
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rmqlb", Subsystem: "vip", Name: name, Help: help, ConstLabels: labels,
		})
		if reg == nil {
			return c
		}
		c, _ = register(reg, c).(prometheus.Counter)
		return c
	}
	held := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "rmqlb", Subsystem: "vip", Name: "held",
		Help: "1 while the VIP set is acquired (this host is master), else 0.", ConstLabels: labels,
	})
	if reg != nil {
		held, _ = register(reg, held).(prometheus.Gauge)
	}
	m := &vipMetrics{
		held:          held,
		garpSent:      counter("garp_sent_total", "Announcements sent: gratuitous ARPs (IPv4) and unsolicited neighbour advertisements (IPv6)."),
		garpErrors:    counter("garp_errors_total", "Announcements that could not be sent."),
		acquireErrors: counter("acquire_errors_total", "Acquire calls that failed for at least one VIP."),
		releaseErrors: counter("release_errors_total", "Release calls that failed for at least one VIP."),
		readded:       counter("readded_total", "VIPs that disappeared from the interface while held and were added again."),
		faults: counter("faults_total",
			"Times the VIPs could not be held (adding or re-adding one failed); the VRRP instance then leaves MASTER."),
	}
	for _, c := range []prometheus.Collector{m.held, m.garpSent, m.garpErrors, m.acquireErrors, m.releaseErrors, m.readded, m.faults} {
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
