package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/netsetup"
)

// ScopePath is the file in which a daemon whose control socket is socket
// keeps the interfaces and VIPs of the VRRP instances it runs, beside its
// socket: RemoveStaleVIPs reads it after the daemon ended, when the
// configuration file may no longer load, or may name a changed interface
// that waited for a restart.
func ScopePath(socket string) string { return socket + ".vips" }

// scopeFile is the content of ScopePath.
type scopeFile struct {
	Instances []scopeInstance `json:"instances"`
}

type scopeInstance struct {
	Interface string         `json:"interface"`
	VIPs      []netip.Prefix `json:"vips"`
}

// ConfigScope returns the interfaces and VIPs of the VRRP instances of a
// configuration (Config.VRRP, or config.LoadVRRP's).
func ConfigScope(instances []config.VRRPInstance) []netsetup.StaleScope {
	var scope []netsetup.StaleScope
	for _, in := range instances {
		scope = append(scope, netsetup.StaleScope{Interface: in.Interface, VIPs: in.VIPs})
	}
	return scope
}

// writeScope writes the scope of the running model cfg to ScopePath
// (replacing the file whole); a failure is logged, not fatal: the file
// only helps a clean-up after the daemon.
func (d *Daemon) writeScope(cfg *config.Config) {
	var f scopeFile
	for _, s := range ConfigScope(cfg.VRRP) {
		f.Instances = append(f.Instances, scopeInstance{Interface: s.Interface, VIPs: s.VIPs})
	}
	b, err := json.Marshal(f)
	if err == nil {
		err = replaceFile(ScopePath(cfg.ControlSocket), append(b, '\n'), 0o644)
	}
	if err != nil {
		d.log.Warn("writing the scope of the VIPs for a clean-up after the daemon", zap.Error(err))
	}
}

// ReadScope reads the scope a daemon with control socket socket last ran
// (ScopePath). A missing file is an error matching os.ErrNotExist.
func ReadScope(socket string) ([]netsetup.StaleScope, error) {
	b, err := os.ReadFile(ScopePath(socket))
	if err != nil {
		return nil, fmt.Errorf("reading the scope of the VIPs: %w", err)
	}
	var f scopeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("reading the scope of the VIPs: %s: %w", ScopePath(socket), err)
	}
	scope := make([]netsetup.StaleScope, len(f.Instances))
	for i, in := range f.Instances {
		scope[i] = netsetup.StaleScope{Interface: in.Interface, VIPs: in.VIPs}
	}
	return scope, nil
}

// ErrDaemonRuns is returned by RemoveStaleVIPs when a daemon answers on
// the control socket or holds its lock: its VIPs are its own.
var ErrDaemonRuns = errors.New("a daemon runs with this control socket: its VIPs are its own")

// RemoveStaleVIPs removes the VIPs of scope (each on its own interface)
// that a daemon with control socket socket, which no longer runs, left
// behind (killed, or crashed, and not started again): only addresses that
// carry rmqlb's marker, as a starting daemon does. It first makes sure no
// daemon runs: none answers on the socket, and it takes the single-instance
// lock (fails with ErrDaemonRuns). It returns the VIPs it removed. For the
// service manager to run after the daemon ended (ExecStopPost), and for an
// operator.
func RemoveStaleVIPs(socket string, scope []netsetup.StaleScope, log *zap.Logger) ([]string, error) {
	if who, answers := answering(socket); answers {
		return nil, fmt.Errorf("removing stale VIPs: %w (one answers on %s%s)", ErrDaemonRuns, socket, who)
	}
	lock, err := takeLock(LockPath(socket))
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("removing stale VIPs: %w (%v)", ErrDaemonRuns, err)
		}
		return nil, fmt.Errorf("removing stale VIPs: %w", err)
	}
	defer lock.release()
	removed, err := netsetup.RemoveStaleScoped(scope, config.VIPLabel, log)
	out := make([]string, len(removed))
	for i, p := range removed {
		out[i] = p.String()
	}
	return out, err
}
