package daemon

import (
	"fmt"

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

// unbound returns what listener change c (an add or a move) leaves
// running when its new address could not be bound (err), and the
// refusal that says so: nothing for an added listener; the old listener
// for a moved one, which stays on its old address.
func unbound(c ListenerChange, err error) (*config.Listener, error) {
	if c.Op == OpAdd {
		return nil, err
	}
	return c.Old, fmt.Errorf("%w (it stays on %s)", err, c.Old.Bind)
}
