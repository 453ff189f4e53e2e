package notify

import "github.com/prometheus/client_golang/prometheus"

// unsafeCollector exports rmqlb_notify_hook_unsafe: for each state,
// whether the Runner's hook for it is one CheckSafe finds unsafe now (0
// without a hook, so that every series exists from the start), checked at
// each scrape (a few stat calls per hook), so that a hook made
// writable by others after the daemon read its file is seen before the
// state change it will not run for.
type unsafeCollector struct {
	r    *Runner
	desc *prometheus.Desc
}

func newUnsafeCollector(r *Runner) *unsafeCollector {
	return &unsafeCollector{r: r, desc: prometheus.NewDesc("rmqlb_notify_hook_unsafe",
		"1 if the notify hook of a VRRP instance for that state is one the daemon will not run, others being able to change it (the program or a directory above it), else 0 (also without a hook); checked at each scrape.",
		[]string{"state"}, prometheus.Labels{"vrrp_instance": r.name})}
}

// Describe implements prometheus.Collector.
func (c *unsafeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *unsafeCollector) Collect(ch chan<- prometheus.Metric) {
	c.r.mu.Lock()
	cfg := c.r.cfg.clone()
	c.r.mu.Unlock()
	for _, k := range Kinds {
		v := 0.0
		if argv := cfg.Argv(k); argv != nil && FindUnsafe(argv[0], c.r.owners...) != nil {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, k.Key())
	}
}
