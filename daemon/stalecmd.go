package daemon

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/netsetup"
)

// RemoveStaleVIPs removes the VIPs of cfg that a daemon which no longer
// runs left on their interfaces (killed, or crashed, and not started
// again): only addresses that carry rmqlb's marker, each on its own
// instance's interface, as a starting daemon does. It first takes the
// single-instance lock of cfg's control socket, so that it never touches
// the VIPs of a daemon that runs (that fails with ErrLocked). It returns
// the VIPs it removed. For the service manager to run after the daemon
// ended (ExecStopPost), and for an operator.
func RemoveStaleVIPs(cfg *config.Config, log *zap.Logger) ([]string, error) {
	lock, err := takeLock(LockPath(cfg.ControlSocket))
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("removing stale VIPs: %w: its VIPs are its own", err)
		}
		return nil, fmt.Errorf("removing stale VIPs: %w", err)
	}
	defer lock.release()
	var scope []netsetup.StaleScope
	for _, in := range cfg.VRRP {
		scope = append(scope, netsetup.StaleScope{Interface: in.Interface, VIPs: in.VIPs})
	}
	removed, err := netsetup.RemoveStaleScoped(scope, config.VIPLabel, log)
	out := make([]string, len(removed))
	for i, p := range removed {
		out[i] = p.String()
	}
	return out, err
}
