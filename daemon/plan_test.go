package daemon

import (
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
)

// planBase is the file the Diff cases change.
const planBase = `control_socket: /run/rmqlb/test.sock
vrrp_instances:
  - name: v
    interface: eth0
    virtual_router_id: 1
    version: 3
    advert_interval: 100ms
    priority: 150
    virtual_ipaddress: [10.0.0.100/24]
    track: [{check: amqp/a, weight: -60}]
listeners:
  - name: amqp
    bind: 10.0.0.100:5672
    backends:
      - {name: a, address: 10.0.0.1:5672, weight: 10}
      - {name: b, address: 10.0.0.2:5672, check: {type: tcp}}
`

func mustParse(t *testing.T, s string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parsing:\n%s\n%v", s, err)
	}
	return c
}

// edit returns planBase with each old replaced by its new, failing the test
// when one is missing.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := planBase
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("base lacks %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestDiffNothing(t *testing.T) {
	p := Diff(mustParse(t, planBase), mustParse(t, planBase))
	if !p.Empty() {
		t.Fatalf("same file: plan %+v", p)
	}
	// Moving sections around in the file changes nothing either.
	moved := edit(t, "      - {name: a, address: 10.0.0.1:5672, weight: 10}\n      - {name: b, address: 10.0.0.2:5672, check: {type: tcp}}\n",
		"      - {name: a, address: 10.0.0.1:5672, weight: 10}\n      - {check: {type: tcp}, address: 10.0.0.2:5672, name: b}\n")
	if p := Diff(mustParse(t, planBase), mustParse(t, moved)); !p.Empty() {
		t.Fatalf("reordered keys: plan %+v", p)
	}
}

func TestDiff(t *testing.T) {
	b := backend.ID{Listener: "amqp", Name: "b"}
	c := backend.ID{Listener: "amqp", Name: "c"}
	for _, tc := range []struct {
		name   string
		file   string
		check  func(t *testing.T, p Plan)
		nRest  int
		restIn string // a restart message must contain this
	}{
		{"weight", edit(t, "weight: 10}", "weight: 3}"), func(t *testing.T, p Plan) {
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpUpdate || len(p.Checks) != 0 || len(p.VRRP) != 0 {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"backup", edit(t, "check: {type: tcp}}", "backup: true, check: {type: tcp}}"), func(t *testing.T, p Plan) {
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpUpdate || !p.Listeners[0].New.Backends[1].Backup || len(p.Checks) != 0 {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"all_backups", edit(t, "    bind: 10.0.0.100:5672\n", "    bind: 10.0.0.100:5672\n    all_backups: true\n"), func(t *testing.T, p Plan) {
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpUpdate || !p.Listeners[0].New.AllBackups {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"allowed_clients", edit(t, "    bind: 10.0.0.100:5672\n", "    bind: 10.0.0.100:5672\n    allowed_clients: [10.1.0.0/16]\n"), func(t *testing.T, p Plan) {
			// Applied in place, to new connections: no restart, the
			// listening socket kept.
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpUpdate || len(p.Listeners[0].New.AllowedClients) != 1 || len(p.Checks) != 0 {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"denied_clients", edit(t, "    bind: 10.0.0.100:5672\n", "    bind: 10.0.0.100:5672\n    denied_clients: [10.1.2.3]\n"), func(t *testing.T, p Plan) {
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpUpdate || len(p.Listeners[0].New.DeniedClients) != 1 || len(p.Checks) != 0 {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"graceful_timeout of a VIP-bound listener", edit(t, "    bind: 10.0.0.100:5672\n", "    bind: 10.0.0.100:5672\n    graceful_timeout: 1m\n"), func(t *testing.T, p Plan) {
			// Its balancer closes sessions at once on stop either way;
			// an upgrade in place lets them finish for this long.
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpUpdate || p.Listeners[0].New.GracefulTimeout != time.Minute {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"backend added with a check", edit(t, "check: {type: tcp}}\n", "check: {type: tcp}}\n      - {name: c, address: 10.0.0.3:5672}\n"), func(t *testing.T, p Plan) {
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpUpdate {
				t.Errorf("listeners %+v", p.Listeners)
			}
			if len(p.Checks) != 1 || p.Checks[0].Op != OpAdd || p.Checks[0].Backend != c || p.Checks[0].Serving {
				t.Errorf("checks %+v", p.Checks)
			}
		}, 0, ""},
		{"backend removed", edit(t, "      - {name: b, address: 10.0.0.2:5672, check: {type: tcp}}\n", ""), func(t *testing.T, p Plan) {
			if len(p.Checks) != 1 || p.Checks[0].Op != OpRemove || p.Checks[0].Backend != b {
				t.Errorf("checks %+v", p.Checks)
			}
		}, 0, ""},
		{"check changed", edit(t, "check: {type: tcp}", "check: {type: tcp, interval: 5s}"), func(t *testing.T, p Plan) {
			if len(p.Checks) != 1 || p.Checks[0].Op != OpUpdate || p.Checks[0].Backend != b {
				t.Errorf("checks %+v", p.Checks)
			}
			if len(p.Listeners) != 0 {
				t.Errorf("a check change updates no listener: %+v", p.Listeners)
			}
		}, 0, ""},
		{"check dropped", edit(t, "check: {type: tcp}", "check: {type: none}"), func(t *testing.T, p Plan) {
			if len(p.Checks) != 1 || p.Checks[0].Op != OpRemove {
				t.Errorf("checks %+v", p.Checks)
			}
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpUpdate {
				t.Errorf("the balancer learns the backend is unchecked: %+v", p.Listeners)
			}
		}, 0, ""},
		{"listener moved", edit(t, "bind: 10.0.0.100:5672", "bind: 10.0.0.100:5673"), func(t *testing.T, p Plan) {
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpReplace {
				t.Errorf("listeners %+v", p.Listeners)
			}
		}, 0, ""},
		{"listener added", planBase + "  - name: mgmt\n    bind: 10.0.0.100:15672\n    backends: [{name: a, address: 10.0.0.1:15672, check: {type: none}}]\n", func(t *testing.T, p Plan) {
			if len(p.Listeners) != 1 || p.Listeners[0].Op != OpAdd || p.Listeners[0].Name != "mgmt" || len(p.Checks) != 0 {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"track weight", edit(t, "weight: -60}", "weight: -20}"), func(t *testing.T, p Plan) {
			if len(p.VRRP) != 1 || p.VRRP[0].Op != OpUpdate || !p.VRRP[0].Tracks {
				t.Errorf("vrrp %+v", p.VRRP)
			}
		}, 0, ""},
		{"priority", edit(t, "priority: 150", "priority: 120"), func(t *testing.T, p Plan) {
			if len(p.VRRP) != 1 || p.VRRP[0].Op != OpUpdate || !p.VRRP[0].Settings || p.VRRP[0].VIPs || p.VRRP[0].Tracks ||
				p.VRRP[0].New.Priority != 120 || !slices.Equal(p.VRRP[0].Keys, []string{"priority"}) {
				t.Errorf("vrrp %+v", p.VRRP)
			}
		}, 0, ""},
		{"version", edit(t, "version: 3", "version: 2", "advert_interval: 100ms", "advert_interval: 1s"), func(t *testing.T, p Plan) {
			if len(p.VRRP) != 0 {
				t.Errorf("an instance whose version changes applies nothing: %+v", p.VRRP)
			}
		}, 1, "line 6: vrrp_instances[0].version: changed from 3 to 2: needs a restart"},
		{"virtual_router_id and priority", edit(t, "virtual_router_id: 1", "virtual_router_id: 2", "priority: 150", "priority: 120"), func(t *testing.T, p Plan) {
			if len(p.VRRP) != 0 {
				t.Errorf("an instance whose VRID changes applies nothing: %+v", p.VRRP)
			}
		}, 1, "line 5: vrrp_instances[0].virtual_router_id: changed from 1 to 2: needs a restart"},
		{"interface and track", edit(t, "interface: eth0", "interface: eth1", "weight: -60}", "weight: -20}"), func(t *testing.T, p Plan) {
			if len(p.VRRP) != 0 {
				t.Errorf("an instance whose interface changes applies nothing: %+v", p.VRRP)
			}
		}, 1, "line 4: vrrp_instances[0].interface: changed from eth0 to eth1: needs a restart"},
		{"control socket", edit(t, "control_socket: /run/rmqlb/test.sock", "control_socket: /run/rmqlb/other.sock"), func(t *testing.T, p Plan) {
			if !p.ControlSocket || p.Empty() || len(p.Listeners)+len(p.Checks)+len(p.VRRP) != 0 || p.LogLevel || p.Metrics || p.ControlGroup {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"vrrp real-time priority", edit(t, "control_socket: /run/rmqlb/test.sock", "control_socket: /run/rmqlb/test.sock\nvrrp_rt_priority: 10"), func(t *testing.T, p Plan) {
			if !p.RealTimePriority || p.Empty() || len(p.Listeners)+len(p.Checks)+len(p.VRRP) != 0 || p.LogLevel || p.Metrics {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"control group", edit(t, "control_socket: /run/rmqlb/test.sock", "control_socket: /run/rmqlb/test.sock\ncontrol_group: "+ownGroup(t)), func(t *testing.T, p Plan) {
			if !p.ControlGroup || p.Empty() || len(p.Listeners)+len(p.Checks)+len(p.VRRP) != 0 || p.LogLevel || p.Metrics {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"vrrp sender", edit(t, "control_socket: /run/rmqlb/test.sock", "control_socket: /run/rmqlb/test.sock\nvrrp_sender: inline"), func(t *testing.T, p Plan) {
			if !p.Sender || p.Empty() || len(p.Listeners)+len(p.Checks)+len(p.VRRP) != 0 || p.LogLevel || p.Metrics {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"state file", edit(t, "control_socket: /run/rmqlb/test.sock", "control_socket: /run/rmqlb/test.sock\nstate_file: /var/lib/rmqlb/state.json"), func(t *testing.T, p Plan) {
			if !p.StateFile || p.Empty() || len(p.Listeners)+len(p.Checks)+len(p.VRRP) != 0 || p.LogLevel || p.Metrics || p.ControlSocket {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
		{"log level and metrics", edit(t, "control_socket: /run/rmqlb/test.sock", "control_socket: /run/rmqlb/test.sock\nlog_level: debug\nmetrics_listen: 127.0.0.1:9150"), func(t *testing.T, p Plan) {
			if !p.LogLevel || !p.Metrics {
				t.Errorf("plan %+v", p)
			}
		}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Diff(mustParse(t, planBase), mustParse(t, tc.file))
			tc.check(t, p)
			if len(p.Restart) != tc.nRest {
				t.Fatalf("restarts %v, want %d", p.Restart, tc.nRest)
			}
			if tc.restIn != "" && !strings.Contains(p.Restart[0].String(), tc.restIn) {
				t.Errorf("restart %q lacks %q", p.Restart[0], tc.restIn)
			}
		})
	}
}

// TestDiffVRRPSettings: every VRRP setting but the identity is applied
// live, each flagged for the part that applies it and named.
func TestDiffVRRPSettings(t *testing.T) {
	for _, tc := range []struct {
		key            string
		from, to       string
		settings, vips bool
	}{
		{"priority", "priority: 150", "priority: 99", true, false},
		{"advert_interval", "advert_interval: 100ms", "advert_interval: 200ms", true, false},
		{"preempt", "priority: 150", "priority: 150\n    preempt: false", true, false},
		{"preempt_delay", "priority: 150", "priority: 150\n    preempt_delay: 5s", true, false},
		{"v3_checksum", "priority: 150", "priority: 150\n    v3_checksum: rfc9568", true, false},
		{"unicast_src", "priority: 150", "priority: 150\n    unicast_src: 10.0.0.1", true, false},
		{"unicast_peers", "priority: 150", "priority: 150\n    unicast_peers: [10.0.0.2]", true, false},
		{"allowed_peers", "priority: 150", "priority: 150\n    allowed_peers: [10.0.0.2]", true, false},
		{"max_adopted_advert_interval", "priority: 150", "priority: 150\n    max_adopted_advert_interval: 1s", true, false},
		{"late_adverts_tolerated", "priority: 150", "priority: 150\n    late_adverts_tolerated: 1", true, false},
		{"virtual_ipaddress", "[10.0.0.100/24]", "[10.0.0.100/24, 10.0.0.101/32]", true, true},
		{"garp", "priority: 150", "priority: 150\n    garp: {count: 2}", false, true},
	} {
		t.Run(tc.key, func(t *testing.T) {
			p := Diff(mustParse(t, planBase), mustParse(t, edit(t, tc.from, tc.to)))
			if len(p.Restart) != 0 || len(p.VRRP) != 1 {
				t.Fatalf("plan %+v", p)
			}
			c := p.VRRP[0]
			if c.Op != OpUpdate || c.Settings != tc.settings || c.VIPs != tc.vips || c.Tracks || !slices.Equal(c.Keys, []string{tc.key}) {
				t.Fatalf("change %+v, want settings %v, VIPs %v, keys [%s]", c, tc.settings, tc.vips, tc.key)
			}
		})
	}
	// auth_pass, on a version 2 instance.
	v2 := edit(t, "version: 3", "version: 2", "advert_interval: 100ms", "advert_interval: 1s")
	p := Diff(mustParse(t, v2), mustParse(t, strings.Replace(v2, "priority: 150", "priority: 150\n    auth_pass: secret", 1)))
	if len(p.Restart) != 0 || len(p.VRRP) != 1 || !p.VRRP[0].Settings || !slices.Equal(p.VRRP[0].Keys, []string{"auth_pass"}) {
		t.Fatalf("auth_pass: %+v", p)
	}
}

// TestDiffCheckAddedToServingBackend: a backend that had no check and gets
// one stays in service until its checks fail.
func TestDiffCheckAddedToServingBackend(t *testing.T) {
	old := mustParse(t, edit(t, "check: {type: tcp}", "check: {type: none}"))
	p := Diff(old, mustParse(t, planBase))
	if len(p.Checks) != 1 || p.Checks[0].Op != OpAdd || !p.Checks[0].Serving {
		t.Fatalf("checks %+v", p.Checks)
	}
}

// TestDiffInstances: instances added and removed.
func TestDiffInstances(t *testing.T) {
	// A second instance on another VRID.
	two := strings.Replace(planBase, "listeners:", `  - name: w
    interface: eth0
    virtual_router_id: 2
    version: 3
    advert_interval: 100ms
    virtual_ipaddress: [10.0.0.101/24]
listeners:`, 1)
	p := Diff(mustParse(t, planBase), mustParse(t, two))
	if len(p.VRRP) != 1 || p.VRRP[0].Op != OpAdd || p.VRRP[0].Name != "w" {
		t.Fatalf("add: %+v", p.VRRP)
	}
	p = Diff(mustParse(t, two), mustParse(t, planBase))
	if len(p.VRRP) != 1 || p.VRRP[0].Op != OpRemove || p.VRRP[0].Name != "w" {
		t.Fatalf("remove: %+v", p.VRRP)
	}
}

// TestDiffDefersClashWithKept: an instance whose identity changed runs
// on as it was until a restart, so an instance the same file adds with
// its old VRID on its interface, or with one of its old VIPs, is deferred
// to the restart too (each file alone is valid); so is a VIP moved to an
// existing instance, which then keeps its old settings, and whatever
// clashes with those in turn. The running model never holds two
// instances with one VRID on one interface, or a VIP twice.
func TestDiffDefersClashWithKept(t *testing.T) {
	none := leftovers{listeners: map[string]*config.Listener{}, instances: map[string]bool{}, settings: map[string]bool{}}
	instance := func(name string, vrid int, vip string) string {
		return fmt.Sprintf("  - name: %s\n    interface: eth0\n    virtual_router_id: %d\n    version: 3\n    advert_interval: 100ms\n    virtual_ipaddress: [%s]\nlisteners:\n", name, vrid, vip)
	}
	with := func(base string, ins ...string) string {
		for _, in := range ins {
			base = strings.Replace(base, "listeners:\n", in, 1)
		}
		return base
	}
	renumbered := edit(t, "virtual_router_id: 1", "virtual_router_id: 5", "virtual_ipaddress: [10.0.0.100/24]", "virtual_ipaddress: [10.0.0.99/24]")
	for _, c := range []struct {
		name     string
		old, new string
		deferred []string // fields deferred beyond v's own restart
		running  []string // instances in the running model
	}{
		{"added on the old VRID", planBase, with(renumbered, instance("w", 1, "10.0.0.101/24")),
			[]string{"vrrp_instances[1].virtual_router_id"}, []string{"v"}},
		{"added with an old VIP", planBase, with(renumbered, instance("w", 2, "10.0.0.100/24")),
			[]string{"vrrp_instances[1].virtual_ipaddress"}, []string{"v"}},
		{"added without a clash", planBase, with(renumbered, instance("w", 2, "10.0.0.101/24")),
			nil, []string{"v", "w"}},
		{"old VIP moved to an existing instance, whose old VIP is taken by a third",
			with(planBase, instance("w", 2, "10.0.0.101/24")),
			with(renumbered, instance("w", 2, "10.0.0.100/24"), instance("x", 3, "10.0.0.101/24")),
			[]string{"vrrp_instances[1].virtual_ipaddress", "vrrp_instances[2].virtual_ipaddress"}, []string{"v", "w"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			old, nc := mustParse(t, c.old), mustParse(t, c.new)
			p := Diff(old, nc)
			var deferred []string
			for _, r := range p.Restart {
				if !strings.HasPrefix(r.Field, "vrrp_instances[0].") {
					deferred = append(deferred, r.Field)
				}
			}
			if !slices.Equal(deferred, c.deferred) {
				t.Errorf("deferred %q, want %q (restarts %+v)", deferred, c.deferred, p.Restart)
			}
			run := running(old, nc, p, none)
			var names []string
			vrids := map[string]string{}
			vips := map[netip.Addr]string{}
			for _, in := range run.VRRP {
				names = append(names, in.Name)
				key := fmt.Sprintf("%s/%d", in.Interface, in.VRID)
				if o, dup := vrids[key]; dup {
					t.Errorf("VRID %s run by %s and %s", key, o, in.Name)
				}
				vrids[key] = in.Name
				for _, v := range in.VIPs {
					if o, dup := vips[v.Addr()]; dup {
						t.Errorf("VIP %s of %s and %s", v.Addr(), o, in.Name)
					}
					vips[v.Addr()] = in.Name
				}
			}
			if !slices.Equal(names, c.running) {
				t.Errorf("running %q, want %q", names, c.running)
			}
		})
	}
}

// TestRunningModel: what a reload could not apply stays as it ran, so the
// next reload with the same file finds the same restarts, and a file
// changed back finds nothing to do.
func TestRunningModel(t *testing.T) {
	none := func() leftovers {
		return leftovers{listeners: map[string]*config.Listener{}, instances: map[string]bool{}, settings: map[string]bool{}}
	}
	old := mustParse(t, planBase)
	// An interface change (a restart) holds back the instance's other
	// changes, its tracks too.
	nc := mustParse(t, edit(t, "interface: eth0", "interface: eth1", "priority: 150", "priority: 120", "weight: -60}", "weight: -20}", "weight: 10}", "weight: 3}"))
	p := Diff(old, nc)
	run := running(old, nc, p, none())
	in := run.VRRP[0]
	if in.Interface != "eth0" || in.Priority != 150 || in.Track[0].Weight != -60 {
		t.Errorf("running instance: interface %s, priority %d, track weight %d; want the old eth0, 150, -60", in.Interface, in.Priority, in.Track[0].Weight)
	}
	if run.Listeners[0].Backends[0].Weight != 3 {
		t.Errorf("running weight %d, want the applied 3", run.Listeners[0].Backends[0].Weight)
	}
	again := Diff(run, nc)
	if len(again.Restart) != 1 || len(again.VRRP) != 0 || len(again.Listeners) != 0 {
		t.Errorf("the same file again: %+v", again)
	}
	back := mustParse(t, edit(t, "weight: 10}", "weight: 3}"))
	if p := Diff(run, back); !p.Empty() {
		t.Errorf("the instance changed back: %+v", p)
	}

	// Settings applied live are in the running model; settings that
	// failed are not, the tracks applied with them are.
	nc = mustParse(t, edit(t, "priority: 150", "priority: 120", "weight: -60}", "weight: -20}"))
	p = Diff(old, nc)
	if in := running(old, nc, p, none()).VRRP[0]; in.Priority != 120 || in.Track[0].Weight != -20 {
		t.Errorf("applied: priority %d, track weight %d; want 120, -20", in.Priority, in.Track[0].Weight)
	}
	lo := none()
	lo.settings["v"] = true
	run = running(old, nc, p, lo)
	if in := run.VRRP[0]; in.Priority != 150 || in.Track[0].Weight != -20 {
		t.Errorf("settings failed: priority %d, track weight %d; want the old 150, the applied -20", in.Priority, in.Track[0].Weight)
	}
	if again := Diff(run, nc); len(again.VRRP) != 1 || !again.VRRP[0].Settings || again.VRRP[0].Tracks {
		t.Errorf("the same file again after failed settings: %+v", again.VRRP)
	}

	// A listener whose change failed keeps its old version.
	nc = mustParse(t, edit(t, "weight: 10}", "weight: 3}"))
	p = Diff(old, nc)
	lo = none()
	lo.listeners["amqp"] = &old.Listeners[0]
	run = running(old, nc, p, lo)
	if run.Listeners[0].Backends[0].Weight != 10 {
		t.Errorf("failed listener change: running weight %d, want the old 10", run.Listeners[0].Backends[0].Weight)
	}
	if run.ControlSocket != old.ControlSocket {
		t.Errorf("control socket %s", run.ControlSocket)
	}

	// A control socket that could not be moved stays where it was.
	nc = mustParse(t, edit(t, "control_socket: /run/rmqlb/test.sock", "control_socket: /run/rmqlb/other.sock"))
	p = Diff(old, nc)
	if run := running(old, nc, p, none()); run.ControlSocket != nc.ControlSocket {
		t.Errorf("moved control socket: running %s, want %s", run.ControlSocket, nc.ControlSocket)
	}
	lo = none()
	lo.controlSocket = true
	if run := running(old, nc, p, lo); run.ControlSocket != old.ControlSocket {
		t.Errorf("control socket not moved: running %s, want the old %s", run.ControlSocket, old.ControlSocket)
	}
}

// ownGroup is the name of the test process's group, which exists.
func ownGroup(t *testing.T) string {
	t.Helper()
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	return g.Name
}

// TestDiffListenerOnVIPOfInstanceAwaitingRestart: a listener bound to a
// VIP that the file gives up along with a change of its instance's
// interface stays bound to a VIP of this daemon until the restart (the
// instance runs on with its old VIPs): the reload leaves it alone, and so
// does the same file again; once the instance is gone, the running model
// has the listener on no VIP of this daemon (no longer closed at once on
// stop: the reload's sync of the listeners' VIPs sets it so), with no
// change of the listener in the plan.
func TestDiffListenerOnVIPOfInstanceAwaitingRestart(t *testing.T) {
	none := leftovers{listeners: map[string]*config.Listener{}, instances: map[string]bool{}, settings: map[string]bool{}}
	old := mustParse(t, planBase)
	nc := mustParse(t, edit(t, "interface: eth0", "interface: eth1", "virtual_ipaddress: [10.0.0.100/24]", "virtual_ipaddress: [10.0.0.101/24]"))
	p := Diff(old, nc)
	if len(p.Restart) != 1 || len(p.Listeners) != 0 {
		t.Fatalf("plan %+v", p)
	}
	run := running(old, nc, p, none)
	if bc := run.BalancerConfig(&run.Listeners[0]); bc.GracefulTimeout >= 0 {
		t.Errorf("running listener's graceful timeout %v: its bind is still a VIP of v", bc.GracefulTimeout)
	}
	again := Diff(run, nc)
	if len(again.Restart) != 1 || len(again.Listeners) != 0 {
		t.Errorf("the same file again: %+v", again)
	}
	// Without v: the bind is no VIP of this daemon any more.
	gone := mustParse(t, strings.Replace(planBase, planBase[strings.Index(planBase, "vrrp_instances:"):strings.Index(planBase, "listeners:")], "", 1))
	p = Diff(run, gone)
	if len(p.Listeners) != 0 {
		t.Fatalf("instance removed: %+v", p)
	}
	run = running(run, gone, p, none)
	if bc := run.BalancerConfig(&run.Listeners[0]); bc.GracefulTimeout < 0 {
		t.Errorf("running listener's graceful timeout %v without v: its bind is no VIP of this daemon", bc.GracefulTimeout)
	}
}

// TestDiffProtocolCheck: a reload that changes what an http check asks
// for (its method, path or statuses), or a stomp check's vhost,
// credentials, refusal or TLS, or its type, updates the check; the same
// check written again changes nothing.
func TestDiffProtocolCheck(t *testing.T) {
	b := backend.ID{Listener: "amqp", Name: "b"}
	for from, changes := range map[string][]string{
		"check: {type: http, path: /api/health/checks/alarms, expect_status: 200}": {
			"check: {type: http, path: /api/health/checks/local-alarms, expect_status: 200}",
			"check: {type: http, path: /api/health/checks/alarms, expect_status: 200-299}",
			"check: {type: http, method: HEAD, path: /api/health/checks/alarms, expect_status: 200}",
			"check: {type: http, path: /api/health/checks/alarms, expect_status: 200, user: monitor, password: p}",
		},
		"check: {type: stomp, user: monitor, password: p}": {
			"check: {type: stomp, user: monitor, password: p, vhost: prod}",
			"check: {type: stomp, user: monitor, password: q}",
			"check: {type: stomp, user: monitor, password: p, on_login_refused: down}",
			"check: {type: stomp, user: monitor, password: p, tls: {verify: none}}",
			"check: {type: mqtt, user: monitor, password: p}",
			"check: {type: stream, user: monitor, password: p}",
		},
	} {
		old := mustParse(t, edit(t, "check: {type: tcp}", from))
		if p := Diff(old, old); !p.Empty() {
			t.Fatalf("same file: plan %+v", p)
		}
		for _, change := range changes {
			p := Diff(old, mustParse(t, edit(t, "check: {type: tcp}", change)))
			if len(p.Checks) != 1 || p.Checks[0].Op != OpUpdate || p.Checks[0].Backend != b || len(p.Listeners) != 0 {
				t.Errorf("%s: plan %+v", change, p)
			}
		}
	}
}
