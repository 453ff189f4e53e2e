package netsetup

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// vipCounter names one counter of a VIPSet's metrics.
type vipCounter int

const (
	vipGarpSent vipCounter = iota
	vipGarpErrors
	vipAcquireErrors
	vipReleaseErrors
	vipReadded
	vipFaults
	numVIPCounters
)

// vipCounterOpts are the names and help texts of the counters, by
// vipCounter.
var vipCounterOpts = [numVIPCounters]struct{ name, help string }{
	vipGarpSent:      {"garp_sent_total", "Announcements sent: gratuitous ARPs (IPv4) and unsolicited neighbour advertisements (IPv6)."},
	vipGarpErrors:    {"garp_errors_total", "Announcements that could not be sent."},
	vipAcquireErrors: {"acquire_errors_total", "Acquire calls that failed for at least one VIP."},
	vipReleaseErrors: {"release_errors_total", "Release calls that failed for at least one VIP."},
	vipReadded:       {"readded_total", "VIPs that disappeared from the interface while held and were added again."},
	vipFaults:        {"faults_total", "Times the VIPs could not be held (adding or re-adding one failed); the VRRP instance then leaves MASTER."},
}

// vipSeries are the series of a VIPSet under one set of labels.
type vipSeries struct {
	held     prometheus.Gauge
	counters [numVIPCounters]prometheus.Counter
}

// collectors returns every metric of s.
func (s *vipSeries) collectors() []prometheus.Collector {
	cs := []prometheus.Collector{s.held}
	for _, c := range s.counters {
		cs = append(cs, c)
	}
	return cs
}

// vipMetrics are the Prometheus metrics of one VIPSet, labelled with its
// interface and its VIPs. With a nil Registerer they are created but never
// registered, so callers need no nil checks. A change of the VIPs
// (relabel) replaces the series by ones labelled with the new VIPs, their
// values carried over, so that no series names a VIP the set no longer
// has. Safe for concurrent use.
type vipMetrics struct {
	reg    prometheus.Registerer
	ifname string

	mu   sync.RWMutex // guards the fields below; held for reading while a series is updated
	vips string
	cur  *vipSeries
}

// newVIPMetrics creates the metrics labelled with the interface and the
// comma-separated VIPs (which tell two VIPSets apart) and registers them
// with reg when it is not nil. A collector already registered under the
// same labels is reused.
func newVIPMetrics(reg prometheus.Registerer, ifname, vips string) (*vipMetrics, error) {
	s, err := newVIPSeries(reg, ifname, vips)
	if err != nil {
		return nil, err
	}
	return &vipMetrics{reg: reg, ifname: ifname, vips: vips, cur: s}, nil
}

// newVIPSeries creates and registers the series of one set of labels.
func newVIPSeries(reg prometheus.Registerer, ifname, vips string) (*vipSeries, error) {
	labels := prometheus.Labels{"interface": ifname, "vips": vips}
	s := &vipSeries{held: prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "rmqlb", Subsystem: "vip", Name: "held",
		Help: "1 while the VIP set is acquired (this host is master), else 0.", ConstLabels: labels,
	})}
	if reg != nil {
		s.held, _ = register(reg, s.held).(prometheus.Gauge)
	}
	for i, o := range vipCounterOpts {
		c := prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "rmqlb", Subsystem: "vip", Name: o.name, Help: o.help, ConstLabels: labels,
		})
		if reg != nil {
			c, _ = register(reg, c).(prometheus.Counter)
		}
		s.counters[i] = c
	}
	for _, c := range s.collectors() {
		if c == nil {
			return nil, fmt.Errorf("registering VIP metrics for %s: invalid collector", ifname)
		}
	}
	return s, nil
}

// inc adds one to counter c.
func (m *vipMetrics) inc(c vipCounter) {
	m.mu.RLock()
	m.cur.counters[c].Inc()
	m.mu.RUnlock()
}

// setHeld sets the held gauge.
func (m *vipMetrics) setHeld(v float64) {
	m.mu.RLock()
	m.cur.held.Set(v)
	m.mu.RUnlock()
}

// relabel labels the metrics with vips from now on: the series of the
// old VIPs are unregistered and ones of the new VIPs registered with
// their values. Nothing changes when vips is the current label.
func (m *vipMetrics) relabel(vips string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if vips == m.vips {
		return nil
	}
	old := m.cur
	if m.reg != nil {
		for _, c := range old.collectors() {
			m.reg.Unregister(c)
		}
	}
	s, err := newVIPSeries(m.reg, m.ifname, vips)
	if err != nil {
		return err
	}
	s.held.Set(value(old.held))
	for i, c := range old.counters {
		s.counters[i].Add(value(c))
	}
	m.cur, m.vips = s, vips
	return nil
}

// value returns the value of a gauge or counter.
func value(c prometheus.Metric) float64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
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
