package config

import (
	"fmt"
	"time"

	"github.com/rmqlb/rmqlb/notify"
)

// UnitStopTimeout is the packaged systemd unit's TimeoutStopSec: how long
// systemd waits for the daemon to stop before it kills it (SIGKILL to the
// whole unit, notify hooks included).
const UnitStopTimeout = 90 * time.Second

// stopBudgetWarnings returns a warning for every setting that can make a
// stop last UnitStopTimeout or longer: the graceful_timeout of a listener
// that is not bound to a VIP of the file (one bound to a VIP closes its
// sessions at once, as the VIP moves), and the timeout of an instance's
// stop hook, which runs as the instance stops. The VIPs are handed over
// before either (priority 0, then removed), and the two run side by side,
// so each is held against the budget alone. Beyond it systemd kills the
// daemon, the unit's stop counts as failed, and a stop hook is cut short.
func (c *Config) stopBudgetWarnings() []string {
	var ws []string
	for _, l := range c.Listeners {
		if l.GracefulTimeout < UnitStopTimeout || c.VIPOwned(l.Bind.Addr()) {
			continue
		}
		f := l.Field + ".graceful_timeout"
		ws = append(ws, fmt.Sprintf("%s (line %d): %v is not below the packaged unit's TimeoutStopSec=%gs: systemd kills the daemon before the sessions have finished (its VIPs are handed over first); shorten it, or raise TimeoutStopSec in a drop-in (systemctl edit rmqlb)",
			f, c.Line(f), l.GracefulTimeout, UnitStopTimeout.Seconds()))
	}
	for _, in := range c.VRRP {
		if len(in.Notify.Argv(notify.Stop)) == 0 {
			continue
		}
		t := in.Notify.Timeout
		if t == 0 {
			t = notify.DefaultTimeout
		}
		if t < UnitStopTimeout {
			continue
		}
		f := in.Field + ".notify.timeout"
		ws = append(ws, fmt.Sprintf("%s (line %d): %v is not below the packaged unit's TimeoutStopSec=%gs: a stop hook that runs that long is killed by systemd with the daemon (its VIPs are handed over first); shorten it, or raise TimeoutStopSec in a drop-in (systemctl edit rmqlb)",
			f, c.Line(f), t, UnitStopTimeout.Seconds()))
	}
	return ws
}
