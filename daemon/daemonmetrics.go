package daemon

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of rmqlb_config_reloads_total.
const (
	reloadSuccess = "success"
	reloadFailure = "failure"
)

// daemonCollector exports the daemon's own metrics: what runs
// (rmqlb_build_info), how its reloads went and whether its file is the
// running configuration (rmqlb_config_*) and its state file
// (rmqlb_state_file_failing), the warnings of its file
// (rmqlb_config_warnings) and whether it stops (rmqlb_daemon_stopping),
// read from the Daemon under its mu, and from the configuration file, at
// each scrape. The parts' metrics are their packages' (vrrp, netsetup,
// balancer, healthcheck) and unitCollector's.
type daemonCollector struct {
	d *Daemon

	build                                 prometheus.Metric
	reloads, lastSuccess, lastSuccessTime *prometheus.Desc
	fileChanged, stateFileFailing         *prometheus.Desc
	warnings, stopping                    *prometheus.Desc
}

// newDaemonCollector returns the collector of d, whose version is
// Options.Version ("unknown" when empty).
func newDaemonCollector(d *Daemon) *daemonCollector {
	version := d.opt.Version
	if version == "" {
		version = "unknown"
	}
	build := prometheus.MustNewConstMetric(
		prometheus.NewDesc("rmqlb_build_info",
			"Always 1; the labels say which rmqlb runs: its version, the Go version it was built with and the VCS revision of its source.",
			nil, prometheus.Labels{"version": version, "goversion": runtime.Version(), "revision": Revision()}),
		prometheus.GaugeValue, 1)
	return &daemonCollector{
		d:     d,
		build: build,
		reloads: prometheus.NewDesc("rmqlb_config_reloads_total",
			"Configuration reloads, by result: success, or failure (the file was refused, or at least one change was).",
			[]string{"result"}, nil),
		lastSuccess: prometheus.NewDesc("rmqlb_config_last_reload_successful",
			"1 if the last reload (or, before any, the load at start) was a success, else 0: the daemon runs on a configuration other than its file's.",
			nil, nil),
		lastSuccessTime: prometheus.NewDesc("rmqlb_config_last_reload_success_timestamp_seconds",
			"Time of the last successful reload, or of the start when none succeeded since, in seconds since the Unix epoch.",
			nil, nil),
		fileChanged: prometheus.NewDesc("rmqlb_config_file_changed",
			"1 if the configuration file, or a file it names (allowed_clients_file, denied_clients_file), is not the one the daemon runs on (changed and not reloaded since, refused as a whole by the last reload, or unreadable), else 0: a restart would run another configuration.",
			nil, nil),
		warnings: prometheus.NewDesc("rmqlb_config_warnings",
			"The warnings of the configuration file as the daemon last read it (at start, or the last reload that parsed it), which `rmqlb status` lists: a notify hook it will not run, a file others could change, an address this host lacks; those of a VRRP instance's interface or a listener's address this host lacked count only while it still lacks them.",
			nil, nil),
		stateFileFailing: prometheus.NewDesc("rmqlb_state_file_failing",
			"1 while the daemon cannot write its state file (state_file: the last write failed: a restart would bring back older operator states), or could not read it at start and has not written it since (the operator's states of the last run were not applied), else 0.",
			nil, nil),
		stopping: prometheus.NewDesc("rmqlb_daemon_stopping",
			"1 once the daemon has begun to stop (SIGTERM): its VRRP instances first, then its listeners, which stop accepting and let their sessions finish within their graceful_timeout; else 0.",
			nil, nil),
	}
}

// Revision is the VCS revision this program was built from, as
// rmqlb_build_info has it (see revision).
func Revision() string {
	info, ok := debug.ReadBuildInfo()
	return revision(info, ok)
}

// revision is the VCS revision the binary was built from, with
// "-modified" when the work tree had changes, or "unknown" (the
// convention of prometheus/common's version package).
func revision(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "unknown"
	}
	rev, modified := "unknown", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified {
		rev += "-modified"
	}
	return rev
}

// Describe implements prometheus.Collector.
func (c *daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.build.Desc()
	ch <- c.reloads
	ch <- c.lastSuccess
	ch <- c.lastSuccessTime
	ch <- c.fileChanged
	ch <- c.stateFileFailing
	ch <- c.warnings
	ch <- c.stopping
}

// Collect implements prometheus.Collector.
func (c *daemonCollector) Collect(ch chan<- prometheus.Metric) {
	warnings := len(c.d.currentWarnings())
	c.d.mu.Lock()
	ok, bad, at := c.d.reloadsOK, c.d.reloadsBad, c.d.lastReloadOK
	last := c.d.lastReload
	stopping := 0.0
	if c.d.stopState != nil {
		stopping = 1
	}
	c.d.mu.Unlock()
	success := 1.0
	if last != nil && !last.OK() {
		success = 0
	}
	ch <- c.build
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(ok), reloadSuccess)
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(bad), reloadFailure)
	ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, success)
	ch <- prometheus.MustNewConstMetric(c.lastSuccessTime, prometheus.GaugeValue, float64(at.UnixNano())/1e9)
	changed := 0.0
	if c.d.configChange() != nil {
		changed = 1
	}
	ch <- prometheus.MustNewConstMetric(c.fileChanged, prometheus.GaugeValue, changed)
	failing := 0.0
	if c.d.stateFileFailing() {
		failing = 1
	}
	ch <- prometheus.MustNewConstMetric(c.stateFileFailing, prometheus.GaugeValue, failing)
	ch <- prometheus.MustNewConstMetric(c.warnings, prometheus.GaugeValue, float64(warnings))
	ch <- prometheus.MustNewConstMetric(c.stopping, prometheus.GaugeValue, stopping)
}

// unitCollector exports what a VRRP unit's VIP owner sees on its
// interface: rmqlb_vrrp_vip_present per VIP, read (by netlink, for a
// netsetup.VIPSet) at each scrape. It is registered on the unit's
// partRegistry, so its series go with the unit.
type unitCollector struct {
	name    string
	vips    VIPOwner
	present *prometheus.Desc
}

func newUnitCollector(name string, vips VIPOwner) *unitCollector {
	return &unitCollector{
		name: name,
		vips: vips,
		present: prometheus.NewDesc("rmqlb_vrrp_vip_present",
			"1 if the VIP is on the instance's interface now (whoever added it), else 0. Summed over the hosts of a group it must be 1.",
			[]string{"vip"}, prometheus.Labels{"vrrp_instance": name}),
	}
}

// Describe implements prometheus.Collector.
func (c *unitCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.present }

// Collect implements prometheus.Collector.
func (c *unitCollector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.vips.Snapshot().VIPs {
		p := 0.0
		if v.Present {
			p = 1
		}
		ch <- prometheus.MustNewConstMetric(c.present, prometheus.GaugeValue, p, v.Prefix.Addr().String())
	}
}
