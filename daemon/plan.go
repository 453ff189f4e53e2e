package daemon

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
)

// Op is what a plan does to one part.
type Op uint8

// Ops.
const (
	// OpAdd starts a part the running model lacks.
	OpAdd Op = iota + 1
	// OpRemove stops a part the new model lacks.
	OpRemove
	// OpUpdate changes a running part in place.
	OpUpdate
	// OpReplace stops a part and starts its new version (a listener whose
	// bind address changes).
	OpReplace
)

func (o Op) String() string {
	switch o {
	case OpAdd:
		return "add"
	case OpRemove:
		return "remove"
	case OpUpdate:
		return "update"
	case OpReplace:
		return "replace"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Plan is what turns the running model into a new one: the difference of
// two configurations, part by part. Diff makes it; the daemon applies it.
// A Plan holds pointers into the two configurations it was made from and
// is only valid with them.
type Plan struct {
	// LogLevel is set when the log level changes (applied live).
	LogLevel bool
	// Metrics is set when the metrics address changes (the endpoint is
	// moved live).
	Metrics bool
	// ControlGroup is set when control_group changes (the control
	// socket's group and the peers it answers change live).
	ControlGroup bool
	// ControlSocket is set when control_socket changes (the socket and
	// its single-instance lock are moved live).
	ControlSocket bool
	// StateFile is set when state_file changes (the operator's states
	// are written there from then on).
	StateFile bool
	// RealTimePriority is set when vrrp_rt_priority changes, Sender when
	// vrrp_sender does (the VRRP instances and the advert sender process
	// are restarted in place, the instances carrying on their states).
	RealTimePriority bool
	Sender           bool
	// Listeners lists listener changes; Old is nil for OpAdd, New for
	// OpRemove.
	Listeners []ListenerChange
	// Checks lists health-check changes, by backend.
	Checks []CheckChange
	// VRRP lists changes of VRRP instances that can be applied live.
	VRRP []VRRPChange
	// Restart lists the changes that only a restart applies, each with
	// the field and line of the new file.
	Restart []Restart
}

// ListenerChange is one listener's change.
type ListenerChange struct {
	Op       Op
	Name     string
	Old, New *config.Listener
}

// CheckChange is one backend's health-check change. OpAdd checks a
// backend that had no check (Serving tells whether it is in service now
// and should stay so until its checks say otherwise), OpRemove stops
// checking it, OpUpdate changes the check in place, keeping its state.
type CheckChange struct {
	Op      Op
	Backend backend.ID
	New     *config.Backend
	// Serving is set for OpAdd of a backend that exists already (its
	// check type was none): it keeps serving until its checks fail.
	Serving bool
}

// VRRPChange is one VRRP instance's live change. For OpUpdate, New is the
// instance's new configuration and the flags say what changed in it.
type VRRPChange struct {
	Op       Op
	Name     string
	Old, New *config.VRRPInstance
	// Tracks is set for OpUpdate when the track rules changed.
	Tracks bool
	// Notify is set for OpUpdate when the notify hooks changed.
	Notify bool
	// Settings is set for OpUpdate when the instance's vrrp.Config
	// changed (priority, advert_interval, preempt, preempt_delay,
	// auth_pass, v3_checksum, unicast_src, unicast_peers,
	// allowed_peers, max_adopted_advert_interval, late_adverts_tolerated,
	// virtual_ipaddress):
	// applied with vrrp.Instance.Update.
	Settings bool
	// VIPs is set for OpUpdate when the VIP set's netsetup.VIPConfig
	// changed (virtual_ipaddress, garp): applied with VIPOwner.Update.
	VIPs bool
	// Keys names the changed keys of the instance, for the log.
	Keys []string
}

// Restart is a change the daemon cannot apply while it runs.
type Restart struct {
	// Field is the path of the changed field in the new file.
	Field string
	// Line is its line in the new file (0 when unknown).
	Line int
	// Why says what changed.
	Why string
}

// String formats r as "line N: field: why".
func (r Restart) String() string {
	return config.FieldError{Field: r.Field, Line: r.Line, Msg: r.Why}.Error()
}

// Empty reports whether p changes nothing.
func (p *Plan) Empty() bool {
	return !p.LogLevel && !p.Metrics && !p.ControlGroup && !p.ControlSocket && !p.StateFile && !p.RealTimePriority && !p.Sender && len(p.Listeners) == 0 && len(p.Checks) == 0 && len(p.VRRP) == 0 && len(p.Restart) == 0
}

// Diff returns the plan that turns the running configuration old into new.
// It is a pure function of its arguments.
func Diff(old, new *config.Config) Plan {
	var p Plan
	p.LogLevel = old.LogLevel != new.LogLevel
	p.Metrics = old.MetricsListen != new.MetricsListen
	p.ControlGroup = old.ControlGroup != new.ControlGroup
	p.ControlSocket = old.ControlSocket != new.ControlSocket
	p.StateFile = old.StateFile != new.StateFile
	p.RealTimePriority = old.VRRPRealTimePriority != new.VRRPRealTimePriority
	p.Sender = old.VRRPSender != new.VRRPSender
	p.diffVRRP(old, new)
	p.diffListeners(old, new)
	p.diffChecks(old, new)
	return p
}

// next returns the running model that p leads to from old when nothing is
// refused. Its VRRP instances say which listeners will be bound to a VIP
// of this daemon (see config.Config.BalancerConfig): an instance awaiting
// a restart holds its old VIPs until then, and one deferred to a restart
// holds none yet, whatever the file says. The listeners a reload starts or
// changes are built against it; those whose binding it got wrong (an
// instance refused) are set right once the reload knows (see
// Daemon.syncListenerVIPs).
func (p *Plan) next(old, new *config.Config) *config.Config {
	return running(old, new, *p, leftovers{})
}

func (p *Plan) restart(c *config.Config, field, why string) {
	p.Restart = append(p.Restart, Restart{Field: field, Line: c.Line(field), Why: why + ": needs a restart"})
}

// diffListeners compares the listeners of old with those of new, as the
// file has them: whether a listener is bound to a VIP of this daemon
// follows the instances that run once the VRRP changes are applied, not
// the plan (see Daemon.syncListenerVIPs), so that an instance that cannot
// be added does not change its VIP's listener at every reload.
func (p *Plan) diffListeners(old, new *config.Config) {
	for i := range new.Listeners {
		nl := &new.Listeners[i]
		ol, ok := old.Listener(nl.Name)
		switch {
		case !ok:
			p.Listeners = append(p.Listeners, ListenerChange{Op: OpAdd, Name: nl.Name, New: nl})
		case ol.Bind != nl.Bind:
			p.Listeners = append(p.Listeners, ListenerChange{Op: OpReplace, Name: nl.Name, Old: ol, New: nl})
		case !sameListener(ol, nl):
			p.Listeners = append(p.Listeners, ListenerChange{Op: OpUpdate, Name: nl.Name, Old: ol, New: nl})
		}
	}
	for i := range old.Listeners {
		ol := &old.Listeners[i]
		if _, ok := new.Listener(ol.Name); !ok {
			p.Listeners = append(p.Listeners, ListenerChange{Op: OpRemove, Name: ol.Name, Old: ol})
		}
	}
}

// sameListener reports whether two versions of a listener run the same as
// the file has them: the balancer's view of them is equal, whether their
// bind is a VIP of this daemon aside (see Daemon.syncListenerVIPs), with
// the graceful_timeout a VIP-bound listener's balancer does not see but an
// upgrade in place uses.
func sameListener(ol, nl *config.Listener) bool {
	var unbound config.Config // no VRRP instance: no bind is a VIP
	return reflect.DeepEqual(unbound.BalancerConfig(ol), unbound.BalancerConfig(nl))
}

func (p *Plan) diffChecks(old, new *config.Config) {
	checked := func(c *config.Config, id backend.ID) (*config.Backend, bool) {
		b, ok := c.Backend(id)
		return b, ok && b.Check.Type != config.CheckNone
	}
	for i := range new.Listeners {
		for j := range new.Listeners[i].Backends {
			nb := &new.Listeners[i].Backends[j]
			if nb.Check.Type == config.CheckNone {
				continue
			}
			ob, had := checked(old, nb.ID)
			switch {
			case !had:
				_, exists := old.Backend(nb.ID)
				p.Checks = append(p.Checks, CheckChange{Op: OpAdd, Backend: nb.ID, New: nb, Serving: exists})
			case !sameCheck(ob.Check, nb.Check):
				p.Checks = append(p.Checks, CheckChange{Op: OpUpdate, Backend: nb.ID, New: nb})
			}
		}
	}
	for i := range old.Listeners {
		for j := range old.Listeners[i].Backends {
			ob := &old.Listeners[i].Backends[j]
			if ob.Check.Type == config.CheckNone {
				continue
			}
			if _, still := checked(new, ob.ID); !still {
				p.Checks = append(p.Checks, CheckChange{Op: OpRemove, Backend: ob.ID})
			}
		}
	}
}

// sameCheck compares two checks by what they do, not by where in the file
// they are written.
func sameCheck(a, b config.Check) bool {
	a.Field, b.Field = "", ""
	return reflect.DeepEqual(a, b)
}

func (p *Plan) diffVRRP(old, new *config.Config) {
	for i := range new.VRRP {
		ni := &new.VRRP[i]
		oi, ok := old.VRRPInstance(ni.Name)
		if !ok {
			p.VRRP = append(p.VRRP, VRRPChange{Op: OpAdd, Name: ni.Name, New: ni})
			continue
		}
		if p.identityChanged(new, oi, ni) {
			continue // the instance runs on as it was until a restart
		}
		c := VRRPChange{Op: OpUpdate, Name: ni.Name, Old: oi, New: ni}
		c.Tracks = !slices.Equal(oi.Track, ni.Track)
		c.Notify = !reflect.DeepEqual(oi.Notify, ni.Notify)
		c.Settings = !reflect.DeepEqual(oi.VRRPConfig(), ni.VRRPConfig())
		c.VIPs = !reflect.DeepEqual(oi.VIPConfig(), ni.VIPConfig())
		c.Keys = changedKeys(oi, ni)
		if c.Tracks || c.Notify || c.Settings || c.VIPs {
			p.VRRP = append(p.VRRP, c)
		}
	}
	for i := range old.VRRP {
		oi := &old.VRRP[i]
		if _, ok := new.VRRPInstance(oi.Name); !ok {
			p.VRRP = append(p.VRRP, VRRPChange{Op: OpRemove, Name: oi.Name, Old: oi})
		}
	}
	p.deferClashes(old, new)
}

// deferClashes defers to a restart the added and changed instances that
// clash with an instance running on as it was until a restart (its
// identity changed): the new file was checked without it, and starting
// them beside it would run a VRRP router twice on one interface or give a
// VIP two owners. A deferred change of an instance keeps that one as it
// was too, which may defer another.
func (p *Plan) deferClashes(old, new *config.Config) {
	var kept []*config.VRRPInstance
	for i := range new.VRRP {
		if oi, ok := old.VRRPInstance(new.VRRP[i].Name); ok && restartsAt(p.Restart, new.VRRP[i].Field) {
			kept = append(kept, oi)
		}
	}
	for len(kept) > 0 {
		var more []*config.VRRPInstance
		p.VRRP = slices.DeleteFunc(p.VRRP, func(c VRRPChange) bool {
			if c.Op == OpRemove || (c.Op == OpUpdate && !c.VIPs) {
				return false
			}
			field, why, clash := clashWith(c.New, kept)
			if !clash {
				return false
			}
			p.restart(new, field, why)
			if c.Op == OpUpdate {
				more = append(more, c.Old)
			}
			return true
		})
		kept = more
	}
}

// clashWith returns the key of ni that clashes with an instance of kept,
// and why: the same VRID on the same interface, or a VIP of both.
func clashWith(ni *config.VRRPInstance, kept []*config.VRRPInstance) (field, why string, clash bool) {
	for _, oi := range kept {
		if oi.Interface == ni.Interface && oi.VRID == ni.VRID {
			return ni.Field + ".virtual_router_id", fmt.Sprintf("VRID %d on %s is still vrrp instance %s's until it restarts", ni.VRID, ni.Interface, oi.Name), true
		}
		for _, v := range ni.VIPs {
			if slices.ContainsFunc(oi.VIPs, func(w netip.Prefix) bool { return w.Addr() == v.Addr() }) {
				return ni.Field + ".virtual_ipaddress", fmt.Sprintf("%s is still a VIP of vrrp instance %s until it restarts", v.Addr(), oi.Name), true
			}
		}
	}
	return "", "", false
}

// restartsAt reports whether rs holds a restart of the section at field.
func restartsAt(rs []Restart, field string) bool {
	return slices.ContainsFunc(rs, func(r Restart) bool { return strings.HasPrefix(r.Field, field+".") })
}

// identityChanged records the changes of an instance that need a restart
// (its identity: interface, VRID or version) and reports whether there is
// one; the instance's other changes are then not applied either.
func (p *Plan) identityChanged(c *config.Config, oi, ni *config.VRRPInstance) (identity bool) {
	f := func(key string) string { return ni.Field + "." + key }
	if oi.Interface != ni.Interface {
		p.restart(c, f("interface"), fmt.Sprintf("changed from %s to %s", oi.Interface, ni.Interface))
		identity = true
	}
	if oi.VRID != ni.VRID {
		p.restart(c, f("virtual_router_id"), fmt.Sprintf("changed from %d to %d", oi.VRID, ni.VRID))
		identity = true
	}
	if oi.Version != ni.Version {
		p.restart(c, f("version"), fmt.Sprintf("changed from %d to %d", oi.Version, ni.Version))
		identity = true
	}
	return identity
}

// keyComparison is a key of the configuration, and whether its old and
// new values are the same.
type keyComparison struct {
	key  string
	same bool
}

// differingKeys returns the keys of cs whose values differ, in order.
func differingKeys(cs []keyComparison) []string {
	var keys []string
	for _, c := range cs {
		if !c.same {
			keys = append(keys, c.key)
		}
	}
	return keys
}

// changedKeys names the keys of an instance that differ, other than its
// identity and its track rules.
func changedKeys(oi, ni *config.VRRPInstance) []string {
	return differingKeys([]keyComparison{
		{"priority", oi.Priority == ni.Priority},
		{"advert_interval", oi.AdvertInterval == ni.AdvertInterval},
		{"preempt", oi.Preempt == ni.Preempt},
		{"preempt_delay", oi.PreemptDelay == ni.PreemptDelay},
		{"auth_pass", oi.AuthPass == ni.AuthPass},
		{"v3_checksum", oi.Checksum == ni.Checksum},
		{"unicast_src", oi.UnicastSrc == ni.UnicastSrc},
		{"unicast_peers", slices.Equal(oi.UnicastPeers, ni.UnicastPeers)},
		{"allowed_peers", slices.Equal(oi.AllowedPeers, ni.AllowedPeers)},
		{"max_adopted_advert_interval", oi.MaxAdoptedInterval == ni.MaxAdoptedInterval},
		{"late_adverts_tolerated", oi.LateAdvertsTolerated == ni.LateAdvertsTolerated},
		{"virtual_ipaddress", slices.Equal(oi.VIPs, ni.VIPs)},
		{"garp", oi.GARP == ni.GARP},
	})
}
