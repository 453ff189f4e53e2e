package balancer

import "github.com/prometheus/client_golang/prometheus"

// collector exports a listener's Snapshot as Prometheus metrics, labelled
// with the listener name (constant) and the backend name.
type collector struct {
	l *Listener

	active, total, refused, noBackend, noFd, timeouts  *prometheus.Desc
	beActive, beTotal, beFails, beIn, beOut, beUp, beW *prometheus.Desc
}

func newCollector(l *Listener) *collector {
	cl := prometheus.Labels{"listener": l.cfg.Name}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rmqlb_"+name, help, labels, cl)
	}
	return &collector{
		l:         l,
		active:    d("listener_active_connections", "Client connections open now."),
		total:     d("listener_connections_total", "Client connections accepted."),
		refused:   d("listener_refused_total", "Client connections refused because of maxconn."),
		noBackend: d("listener_no_backend_total", "Client connections closed because no backend could be reached."),
		noFd:      d("listener_refused_fd_limit_total", "Client connections refused because the process was out of file descriptors."),
		timeouts:  d("listener_session_timeouts_total", "Sessions closed by a session timeout (handshake, fin, idle).", "timeout"),
		beActive:  d("backend_active_connections", "Sessions to the backend open now.", "backend"),
		beTotal:   d("backend_connections_total", "Sessions established to the backend.", "backend"),
		beFails:   d("backend_connect_failures_total", "Failed connection attempts to the backend.", "backend"),
		beIn:      d("backend_bytes_in_total", "Bytes sent from clients to the backend.", "backend"),
		beOut:     d("backend_bytes_out_total", "Bytes sent from the backend to clients.", "backend"),
		beUp:      d("backend_up", "1 if the backend takes new connections (UP or DEGRADED), 0 otherwise.", "backend"),
		beW:       d("backend_weight", "Current weight of the backend.", "backend"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.active, c.total, c.refused, c.noBackend, c.noFd, c.timeouts,
		c.beActive, c.beTotal, c.beFails, c.beIn, c.beOut, c.beUp, c.beW} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Snapshot()
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(s.Active))
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, float64(s.Total))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.Refused))
	ch <- prometheus.MustNewConstMetric(c.noBackend, prometheus.CounterValue, float64(s.NoBackend))
	ch <- prometheus.MustNewConstMetric(c.noFd, prometheus.CounterValue, float64(s.RefusedFdLimit))
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(s.HandshakeTimeouts), "handshake")
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(s.FinTimeouts), "fin")
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(s.IdleTimeouts), "idle")
	for _, b := range s.Backends {
		up := 0.0
		if b.State.Serving() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.beActive, prometheus.GaugeValue, float64(b.Active), b.Name)
		ch <- prometheus.MustNewConstMetric(c.beTotal, prometheus.CounterValue, float64(b.Total), b.Name)
		ch <- prometheus.MustNewConstMetric(c.beFails, prometheus.CounterValue, float64(b.ConnectFailures), b.Name)
		ch <- prometheus.MustNewConstMetric(c.beIn, prometheus.CounterValue, float64(b.BytesIn), b.Name)
		ch <- prometheus.MustNewConstMetric(c.beOut, prometheus.CounterValue, float64(b.BytesOut), b.Name)
		ch <- prometheus.MustNewConstMetric(c.beUp, prometheus.GaugeValue, up, b.Name)
		ch <- prometheus.MustNewConstMetric(c.beW, prometheus.GaugeValue, float64(b.Weight), b.Name)
	}
}
