package daemon

import (
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
)

// probeBinds tries the binds of the listeners p adds or moves now, as
// their start will (balancer.ProbeBind), and returns the errors by
// listener name. A bind at a port where the running model old listens (a
// listener of this daemon, or its metrics endpoint) is not tried: a
// reload frees or keeps such a port itself before it binds, which a probe
// made now cannot tell.
func probeBinds(p Plan, old, nc *config.Config) map[string]error {
	ours := map[uint16]bool{}
	for _, l := range old.Listeners {
		ours[l.Bind.Port()] = true
	}
	if old.MetricsListen.IsValid() {
		ours[old.MetricsListen.Port()] = true
	}
	errs := map[string]error{}
	for _, c := range p.Listeners {
		if (c.Op != OpAdd && c.Op != OpReplace) || ours[c.New.Bind.Port()] {
			continue
		}
		if err := balancer.ProbeBind(nc.BalancerConfig(c.New)); err != nil {
			errs[c.Name] = err
		}
	}
	return errs
}
