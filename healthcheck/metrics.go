package healthcheck

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/backend"
)

// Metrics are the Prometheus metrics of a Scheduler's checks, labelled
// listener and backend (backend.ID), the label scheme of the balancer's
// backend metrics, so that the series of one backend join across both.
// The backends' states are the balancer's (rmqlb_backend_state): it has
// every backend, checked or not. Create them with NewMetrics and pass them
// in Options.Metrics. The series of a backend exist from Scheduler.Add and
// go with Scheduler.Remove. A nil *Metrics does nothing.
type Metrics struct {
	checks  *prometheus.CounterVec
	latency *prometheus.HistogramVec
	cluster *prometheus.GaugeVec
	downs   *prometheus.CounterVec
	certs   *prometheus.GaugeVec
	refused *prometheus.GaugeVec
	alone   *prometheus.GaugeVec

	mu       sync.Mutex
	clusters map[backend.ID]string // the cluster label of each backend's series
}

// Values of the result label of rmqlb_healthcheck_checks_total.
const (
	resultPass  = "pass"
	resultWarn  = "warn"
	resultAlarm = "alarm"
	// resultFull: passed, the broker refuses new clients at its own connection limit.
	resultFull = "full"
	resultFail = "fail"
	resultBusy = "busy"
	// resultInconclusive: the check could not be made for a shortage of this host.
	resultInconclusive = "inconclusive"
)

// NewMetrics registers the health-check metrics with reg. A nil reg returns nil (no metrics).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		clusters: map[backend.ID]string{},
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rmqlb_healthcheck_checks_total",
			Help: "Health checks run, by backend and result: pass, warn (passed with a warning), alarm (passed, the broker has a resource alarm), full (passed, the broker refuses new clients at its own connection limit: the backend keeps its sessions and gets new clients only when no other backend can), fail, busy (timed out while the backend kept sending to its clients, not counted as a failure within busy_grace), inconclusive (could not be made for want of file descriptors or socket memory on this host; the backend kept its state).",
		}, []string{"listener", "backend", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rmqlb_healthcheck_duration_seconds",
			Help:    "Duration of health checks, by backend, whatever their result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"listener", "backend"}),
		cluster: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rmqlb_healthcheck_cluster_info",
			Help: "1, labelled with the RabbitMQ cluster the backend's broker named in its last passing check (its cluster_name: set by rabbitmqctl set_cluster_name, else each node names itself); no series while its checks fail or do not tell.",
		}, []string{"listener", "backend", "cluster"}),
		downs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rmqlb_healthcheck_up_down_total",
			Help: "Times the backend's checks took it DOWN from UP or DEGRADED (HAProxy's chkdown): each closed its sessions unless its listener keeps them (on_marked_down). A few within minutes is a backend that flaps.",
		}, []string{"listener", "backend"}),
		certs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rmqlb_healthcheck_tls_certificate_expiry_timestamp_seconds",
			Help: "When a TLS certificate of the backend's check expires (Unix time), by whose it is: certificate=\"broker\" the first to expire of the chain the broker sent (and of its verified chain up to the root), certificate=\"client\" the check's own client certificate (cert_file). From the last passing check over TLS, kept while the checks fail; no series for a check without TLS.",
		}, []string{"listener", "backend", "certificate"}),
		refused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rmqlb_healthcheck_login_refused",
			Help: "1 while the backend's last check passed with the broker refusing the check's own login or TLS client certificate (a warning: the backend is DEGRADED, still served), else 0; an inconclusive or busy check keeps it. Refused on one backend while another of its listener lets the same login in is that node's own fault, not the check user's: rmqlb_healthcheck_login_refused_alone.",
		}, []string{"listener", "backend"}),
		alone: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rmqlb_healthcheck_login_refused_alone",
			Help: "1 while the backend's checks are refused the login (rmqlb_healthcheck_login_refused) that another backend of its listener, whose check logs in alike, let in since this backend's refusals began: RabbitMQ keeps users, permissions, vhosts and their limits across the cluster, so the refusal is this node's own (an authentication backend or loopback_users of its own, a vhost down on it, its connection limit); else 0. The backend is DEGRADED and still served, or DOWN for it under on_login_refused: down-if-alone. rmqlb status names the backends that let the login in (refused_alone).",
		}, []string{"listener", "backend"}),
	}
	for _, c := range []prometheus.Collector{m.checks, m.latency, m.cluster, m.downs, m.certs, m.refused, m.alone} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// add creates the series of backend id at 0, so that a rate or an increase
// sees its first check.
func (m *Metrics) add(id backend.ID) {
	if m == nil {
		return
	}
	for _, r := range []string{resultPass, resultWarn, resultAlarm, resultFull, resultFail, resultBusy, resultInconclusive} {
		m.checks.WithLabelValues(id.Listener, id.Name, r)
	}
	m.latency.WithLabelValues(id.Listener, id.Name)
	m.downs.WithLabelValues(id.Listener, id.Name)
	m.refused.WithLabelValues(id.Listener, id.Name)
	m.alone.WithLabelValues(id.Listener, id.Name)
}

// setRefusedAlone sets rmqlb_healthcheck_login_refused_alone of backend id.
func (m *Metrics) setRefusedAlone(id backend.ID, alone bool) {
	v := 0.0
	if alone {
		v = 1
	}
	m.alone.WithLabelValues(id.Listener, id.Name).Set(v)
}

// wentDown counts that the checks took backend id DOWN from UP or DEGRADED.
func (m *Metrics) wentDown(id backend.ID) {
	if m == nil {
		return
	}
	m.downs.WithLabelValues(id.Listener, id.Name).Inc()
}

// observe counts one check of backend id; excused is a busy timeout that did not count as a
// failure.
func (m *Metrics) observe(id backend.ID, r Result, lat time.Duration, excused bool) {
	if m == nil {
		return
	}
	res := resultPass
	switch {
	case r.Inconclusive:
		res = resultInconclusive
	case excused:
		res = resultBusy
	case r.Err != nil:
		res = resultFail
	case r.Alarm != "":
		res = resultAlarm
	case r.Full:
		res = resultFull
	case r.Warning != "":
		res = resultWarn
	}
	m.checks.WithLabelValues(id.Listener, id.Name, res).Inc()
	m.latency.WithLabelValues(id.Listener, id.Name).Observe(lat.Seconds())
	switch {
	case r.Inconclusive || excused:
		// The backend keeps its state, and its cluster as known.
	case r.Err == nil && r.Cluster != "":
		m.setCluster(id, r.Cluster)
	default:
		m.setCluster(id, "")
	}
	if r.Err == nil && !r.Inconclusive && !excused {
		m.setCertificates(id, r.Certificates)
	}
	if !r.Inconclusive && !excused {
		refused := 0.0
		if r.Err == nil && r.Refused {
			refused = 1
		}
		m.refused.WithLabelValues(id.Listener, id.Name).Set(refused)
	}
}

// setCertificates makes certs the series of
// rmqlb_healthcheck_tls_certificate_expiry_timestamp_seconds of backend
// id: each role's is set in place, never deleted and added again, so that
// no scrape misses one that stays.
func (m *Metrics) setCertificates(id backend.ID, certs []Certificate) {
	for _, role := range []CertRole{CertBroker, CertClient} {
		i := slices.IndexFunc(certs, func(c Certificate) bool { return c.Role == role })
		if i < 0 {
			m.certs.DeleteLabelValues(id.Listener, id.Name, string(role))
			continue
		}
		m.certs.WithLabelValues(id.Listener, id.Name, string(role)).Set(float64(certs[i].NotAfter.Unix()))
	}
}

// setCluster makes cluster (none when empty) the one series of
// rmqlb_healthcheck_cluster_info of backend id.
func (m *Metrics) setCluster(id backend.ID, cluster string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.clusters[id]
	if ok && old == cluster {
		return
	}
	if ok {
		m.cluster.DeleteLabelValues(id.Listener, id.Name, old)
		delete(m.clusters, id)
	}
	if cluster != "" {
		m.cluster.WithLabelValues(id.Listener, id.Name, cluster).Set(1)
		m.clusters[id] = cluster
	}
}

// forget deletes the series of a removed backend.
func (m *Metrics) forget(id backend.ID) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"listener": id.Listener, "backend": id.Name}
	m.checks.DeletePartialMatch(l)
	m.latency.DeletePartialMatch(l)
	m.downs.DeletePartialMatch(l)
	m.certs.DeletePartialMatch(l)
	m.refused.DeletePartialMatch(l)
	m.alone.DeletePartialMatch(l)
	m.setCluster(id, "")
}
