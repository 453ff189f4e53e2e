package main

import (
	"reflect"
	"time"

	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
)

// reload re-reads the configuration file on SIGHUP. A file that does not
// validate is refused and the daemon runs on unchanged. Of a valid file,
// what can change without dropping anything is applied: a listener's
// policy, persistence, timeouts, retries, maxconn, PROXY setting and its
// backends' weights, maxconn and addresses, as long as the listener keeps
// the same backends with the same checks. Everything else (VRRP
// instances, added or removed listeners or backends, checks, the control
// socket) is reported as needing a restart, in the log and in status.
func (d *daemon) reload() {
	r := &control.Reload{At: time.Now()}
	defer func() {
		d.mu.Lock()
		d.lastReload = r
		d.mu.Unlock()
	}()
	nc, err := config.Load(d.path)
	if err != nil {
		r.Error = err.Error()
		d.log.Error("reload refused: the daemon keeps its running configuration", zap.String("config", d.path), zap.Error(err))
		return
	}
	old := d.cfg
	if !reflect.DeepEqual(nc.VRRPInstances, old.VRRPInstances) {
		r.Pending = append(r.Pending, "vrrp_instances")
	}
	if nc.ControlSocket != old.ControlSocket || nc.MetricsListen != old.MetricsListen || nc.LogLevel != old.LogLevel {
		r.Pending = append(r.Pending, "daemon settings")
	}
	oldByName := map[string]config.Listener{}
	for _, l := range old.Listeners {
		oldByName[l.Name] = l
	}
	if len(nc.Listeners) != len(old.Listeners) {
		r.Pending = append(r.Pending, "listeners added or removed")
	}
	for _, nl := range nc.Listeners {
		ol, ok := oldByName[nl.Name]
		if !ok {
			continue
		}
		if reflect.DeepEqual(nl, ol) {
			continue
		}
		if nl.BindAddr != ol.BindAddr || !sameBackendsAndChecks(nl, ol) {
			r.Pending = append(r.Pending, "listener "+nl.Name+" (bind, backends or checks)")
			continue
		}
		if err := d.traffic.byName[nl.Name].Apply(balancerConfig(nl)); err != nil {
			r.Pending = append(r.Pending, "listener "+nl.Name+": "+err.Error())
			continue
		}
		r.Applied = append(r.Applied, "listener "+nl.Name)
	}
	d.log.Info("reloaded configuration", zap.Strings("applied", r.Applied), zap.Strings("needs_restart", r.Pending))
}

// sameBackendsAndChecks reports whether two versions of a listener have
// the same backend names, in order, with the same checks.
func sameBackendsAndChecks(a, b config.Listener) bool {
	if len(a.Backends) != len(b.Backends) {
		return false
	}
	for i := range a.Backends {
		if a.Backends[i].Name != b.Backends[i].Name || !reflect.DeepEqual(a.Backends[i].CheckV, b.Backends[i].CheckV) {
			return false
		}
	}
	return true
}
