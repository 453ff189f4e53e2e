package vrrp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus metrics of one Instance, labelled with the
// instance name as the constant label vrrp_instance (never "instance",
// which is the scrape target's label), so that several instances share one
// Registerer. A nil *metrics does nothing.
type metrics struct {
	sent, received, sendErrors, ownerErrors, transitions   prometheus.Counter
	roleChanges                                            prometheus.Counter
	intervalClamped, rebinds, linkWatchErrors, ownerFaults prometheus.Counter
	conflicts                                              prometheus.Counter
	lowerMasters, differing                                prometheus.Counter
	dropped                                                *prometheus.CounterVec
	state                                                  *prometheus.GaugeVec
	priority                                               prometheus.Gauge
	sendDelays                                             prometheus.Histogram
	// stateGauges are the series of state, by position in states, looked
	// up once: set runs on every step and must allocate nothing.
	stateGauges [len(stateNames)]prometheus.Gauge
}

// states are the values of the state label of rmqlb_vrrp_state.
var states = stateNames[:]

var stateNames = [...]State{StateInit, StateBackup, StateMaster, StateFault}

// dropReasons are the values of the reason label of
// rmqlb_vrrp_adverts_dropped_total: every reason DropReason returns. Each
// series exists from the start at 0, so that a rate or an increase sees
// the first drop.
var dropReasons = []string{
	DropTruncated, DropTTL, DropVersion, DropType, DropChecksum, DropLength, DropInterval, DropVRID,
	DropAuth, DropIntervalMismatch, DropAddressMismatch, DropNotPeer, DropOwn, DropOther,
}

func newMetrics(reg prometheus.Registerer, name string) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	cl := prometheus.Labels{"vrrp_instance": name}
	counter := func(n, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "rmqlb", Subsystem: "vrrp", Name: n, Help: help, ConstLabels: cl})
	}
	m := &metrics{
		sent:        counter("adverts_sent_total", "VRRP advertisements sent."),
		received:    counter("adverts_received_total", "VRRP packets received, dropped ones included."),
		sendErrors:  counter("send_errors_total", "VRRP advertisements that could not be sent (one per destination): while they fail the routers there do not hear this one (send_failing in rmqlb status)."),
		ownerErrors: counter("owner_errors_total", "Failed or timed-out VIP acquire/release calls."),
		transitions: counter("transitions_total", "VRRP state changes, the instance's start (from INIT) and stop (to INIT) included."),
		roleChanges: counter("role_changes_total",
			"VRRP state changes between BACKUP, MASTER and FAULT: those of transitions_total but the instance's start (from INIT) and stop (to INIT), which a restart or an upgrade of rmqlb makes. Each moves the VIPs or takes this router out of the election; five within 10 minutes is what rmqlb status calls flapping."),
		intervalClamped: counter("interval_clamped_total",
			"VRRPv3 adverts whose interval was longer than the largest a backup adopts (max_adopted_advert_interval)."),
		ownerFaults: counter("owner_faults_total", "Times the VIP owner reported it could not hold the VIPs (the instance then goes to FAULT)."),
		conflicts: counter("vip_conflicts_total",
			"Times another host announced a VIP of this MASTER (gratuitous ARP, ARP with the VIP as sender, IPv6 neighbour advertisement) and this one stayed MASTER a master down interval later: a host that holds the address too."),
		lowerMasters: counter("lower_masters_total",
			"Times this MASTER heard a router of lower priority advertise as MASTER (at most once per master down interval): that router did not hear this one's adverts (a partition that healed, adverts lost on the way, an advert sender process that stopped), and both held the VIPs until it heard this one's answer."),
		differing: counter("adverts_addresses_differ_total",
			"VRRP advertisements of this VRID accepted although their addresses differ from the instance's virtual_ipaddress (they share at least one): a group whose hosts do not list the same VIPs, as while a reload that changes them has reached some hosts only (differing_addresses in rmqlb status). Those that share none are dropped (adverts_dropped_total, reason address_mismatch)."),
		rebinds: counter("rebinds_total", "Times the VRRP socket followed its interface after it was deleted and created again."),
		linkWatchErrors: counter("link_watch_errors_total",
			"Errors of the netlink link subscription, each followed by a new subscription and a fresh read of the link."),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rmqlb", Subsystem: "vrrp",
			Name: "adverts_dropped_total", Help: "VRRP packets dropped, by reason.", ConstLabels: cl}, []string{"reason"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "rmqlb", Subsystem: "vrrp", Name: "state",
			Help: "1 for the current VRRP state of the instance (INIT, BACKUP, MASTER, FAULT), 0 for the others.", ConstLabels: cl},
			[]string{"state"}),
		priority: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rmqlb", Subsystem: "vrrp", Name: "effective_priority",
			Help: "Effective VRRP priority: the configured one plus the track rules' adjustment, clamped to 1..254 (255 for an address owner); 0 while the instance is released (rmqlb vrrp release).", ConstLabels: cl}),
	}
	m.sendDelays = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "rmqlb", Subsystem: "vrrp", Name: "advert_send_delay_seconds",
		Help: "How long after its timer expired a MASTER stepped its periodic advertisement: the time its event loop waited to run (a backup takes over after three late ones); with an advert sender process (vrrp_sender: process), how late the process sent it.", ConstLabels: cl,
		Buckets: sendDelayBuckets})
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
	for k, s := range states {
		m.stateGauges[k] = m.state.WithLabelValues(s.String())
	}
	for _, c := range []prometheus.Collector{m.sent, m.received, m.sendErrors, m.ownerErrors, m.transitions, m.roleChanges, m.intervalClamped, m.rebinds, m.linkWatchErrors, m.ownerFaults, m.conflicts, m.lowerMasters, m.differing, m.dropped, m.state, m.priority, m.sendDelays} {
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

// add counts adverts another sender sent (sent) and failed to send
// (failed).
func (m *metrics) add(sent, failed int) {
	if m != nil {
		m.sent.Add(float64(sent))
		m.sendErrors.Add(float64(failed))
	}
}

// sendDelayBuckets are the buckets of rmqlb_vrrp_advert_send_delay_seconds:
// from 100 µs (a loop that runs at once) to 1 s.
var sendDelayBuckets = []float64{0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1}

// sendDelay records how late a periodic advert was stepped.
func (m *metrics) sendDelay(d time.Duration) {
	if m != nil {
		m.sendDelays.Observe(d.Seconds())
	}
}

func (m *metrics) drop(reason string) {
	if m != nil {
		m.dropped.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) set(state State, prio uint8) {
	if m == nil {
		return
	}
	for k, s := range states {
		v := 0.0
		if s == state {
			v = 1
		}
		m.stateGauges[k].Set(v)
	}
	m.priority.Set(float64(prio))
}
