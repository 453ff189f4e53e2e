package balancer

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	rbackend "github.com/rmqlb/rmqlb/backend"
)

// collector exports a listener's Snapshot as Prometheus metrics: those of
// the listener labelled listener (a constant label), those of its backends
// listener and backend, the label scheme of the health-check metrics, so
// that the series of one backend join across both. A removed backend's
// series go with it (they are read from the Snapshot at each scrape).
type collector struct {
	l *Listener

	listening, active, maxConn, total, refused, timeouts, sticky, stickyFull *prometheus.Desc
	clients, busiest, maxConnClient                                          *prometheus.Desc

	beActive, beMaxConn, beTotal, beFails, beSent, beReceived *prometheus.Desc
	beUp, beState, beWeight, beRatio, beBackup                *prometheus.Desc
	beEnded                                                   *prometheus.Desc
}

// Values of the reason label of rmqlb_listener_refused_connections_total.
const (
	refusedMaxConn    = "maxconn"
	refusedClient     = "maxconn_per_client"
	refusedNotAllowed = "not_allowed"
	refusedDenied     = "denied"
	refusedFdLimit    = "fd_limit"
	refusedLocal      = "local_resources"
	refusedNoBackend  = "no_backend"
)

func newCollector(l *Listener) *collector {
	cl := prometheus.Labels{"listener": l.cfg.Name}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rmqlb_"+name, help, labels, cl)
	}
	return &collector{
		l:         l,
		listening: d("listener_listening", "1 while the listener is bound and accepting, 0 otherwise."),
		active:    d("listener_active_connections", "Client connections open now."),
		maxConn:   d("listener_max_connections", "The most client connections the listener holds at once (maxconn); 0: no limit."),
		total:     d("listener_connections_total", "Client connections accepted."),
		refused: d("listener_refused_connections_total",
			"Client connections closed without a session, by reason: maxconn (the listener or every usable backend at its maxconn), "+
				"maxconn_per_client (the client's address at its maxconn_per_client), not_allowed (the client's address in none of allowed_clients), denied (the client's address in denied_clients), fd_limit (the process out of file descriptors), local_resources (the host out of local ports, socket memory or room in epoll for the client's or the backend's connection), "+
				"no_backend (no backend usable, or every connect attempt failed).", "reason"),
		clients: d("listener_clients", "Client addresses with a connection open now."),
		busiest: d("listener_busiest_client_connections",
			"The most connections one client address holds open now (rmqlb status --verbose names the busiest addresses)."),
		maxConnClient: d("listener_max_connections_per_client",
			"The most connections one client address may hold at once (maxconn_per_client); 0: no limit."),
		timeouts: d("listener_session_timeouts_total", "Sessions closed by a session timeout (handshake, fin, idle).", "timeout"),
		sticky:   d("listener_persistence_entries", "Client-to-backend persistence entries held now (0 without persistence)."),
		stickyFull: d("listener_persistence_full_total",
			"New clients balanced without being pinned because the persistence table was full (persistence_max_clients)."),
		beActive: d("backend_active_connections", "Sessions to the backend open now (being connected or established).", "backend"),
		beTotal:  d("backend_connections_total", "Sessions established to the backend.", "backend"),
		beFails:  d("backend_connect_failures_total", "Failed connection attempts to the backend.", "backend"),
		beSent:   d("backend_sent_bytes_total", "Bytes sent to the backend (client-to-backend traffic).", "backend"),
		beReceived: d("backend_received_bytes_total",
			"Bytes received from the backend (backend-to-client traffic).", "backend"),
		beUp: d("backend_up", "1 if the backend takes new connections (UP or DEGRADED, and its address is not the listener's own), 0 otherwise.", "backend"),
		beState: d("backend_state",
			"1 for the effective state of the backend (DOWN, UP, DEGRADED, DRAIN, MAINT: checks and operator), 0 for the others.",
			"backend", "state"),
		beWeight: d("backend_weight",
			"Weight of the backend in effect: the operator's while one is set (rmqlb backend weight), else the configured one.", "backend"),
		beRatio: d("backend_weight_ratio",
			"Share of its weight in effect the backend gets now: below 1 during slow start, else 1.", "backend"),
		beMaxConn: d("backend_max_connections",
			"The most sessions the backend takes at once (maxconn); 0: no limit. At it, new clients go to the listener's other backends.", "backend"),
		beEnded: d("backend_sessions_ended_total",
			"Established sessions to the backend that ended, by reason: client_closed, broker_closed, client_reset, broker_reset (the side that closed or failed first), "+
				"handshake_timeout, idle_timeout, fin_timeout, backend_down (shut as the backend went DOWN or MAINT), backend_removed (by a reload), "+
				"backup_replaced, shutdown (rmqlb backend L/B shutdown-sessions, rmqlb sessions --shutdown), moved (move-sessions, rebalance), vip_left (its VIP left the host), stop (the listener stopped).",
			"backend", "reason"),
		beBackup: d("backend_backup",
			"1 for a backup backend (backup: true: it takes new connections only while no other backend of its listener can), 0 otherwise.", "backend"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.listening, c.active, c.maxConn, c.total, c.refused, c.timeouts, c.sticky, c.stickyFull,
		c.clients, c.busiest, c.maxConnClient,
		c.beActive, c.beMaxConn, c.beTotal, c.beFails, c.beSent, c.beReceived, c.beUp, c.beState, c.beWeight, c.beRatio, c.beBackup, c.beEnded} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.listening, bool01(s.Listening))
	gauge(c.active, float64(s.Active))
	gauge(c.maxConn, float64(s.MaxConn))
	counter(c.total, s.Total)
	counter(c.refused, s.Refused, refusedMaxConn)
	counter(c.refused, s.RefusedPerClient, refusedClient)
	counter(c.refused, s.RefusedNotAllowed, refusedNotAllowed)
	counter(c.refused, s.RefusedDenied, refusedDenied)
	counter(c.refused, s.RefusedFdLimit, refusedFdLimit)
	counter(c.refused, s.RefusedLocal, refusedLocal)
	counter(c.refused, s.NoBackend, refusedNoBackend)
	counter(c.timeouts, s.HandshakeTimeouts, "handshake")
	counter(c.timeouts, s.FinTimeouts, "fin")
	counter(c.timeouts, s.IdleTimeouts, "idle")
	gauge(c.sticky, float64(s.StickyEntries))
	gauge(c.clients, float64(s.Clients))
	var busiest int64
	if len(s.BusiestClients) > 0 {
		busiest = s.BusiestClients[0].Sessions
	}
	gauge(c.busiest, float64(busiest))
	gauge(c.maxConnClient, float64(s.MaxConnPerClient))
	counter(c.stickyFull, s.StickyFull)
	for _, b := range s.Backends {
		gauge(c.beActive, float64(b.Active), b.Name)
		gauge(c.beMaxConn, float64(b.MaxConn), b.Name)
		counter(c.beTotal, b.Total, b.Name)
		counter(c.beFails, b.ConnectFailures, b.Name)
		counter(c.beSent, b.BytesIn, b.Name)
		counter(c.beReceived, b.BytesOut, b.Name)
		gauge(c.beUp, bool01(b.State.Serving() && !b.LoopsBack), b.Name)
		for _, st := range rbackend.States() {
			gauge(c.beState, bool01(st == b.State), b.Name, st.String())
		}
		gauge(c.beWeight, float64(b.Weight), b.Name)
		gauge(c.beRatio, float64(b.WeightPercent)/100, b.Name)
		gauge(c.beBackup, bool01(b.Backup), b.Name)
		for r := range EndReason(numEndReasons) {
			if n := b.Ended[r.String()]; n > 0 || slices.Contains(establishedEnds[:], r) {
				counter(c.beEnded, n, b.Name, r.String())
			}
		}
	}
}

// bool01 is 1 for true, 0 for false.
func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
