package daemon

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/control/statusschema"
	"github.com/rmqlb/rmqlb/internal/freeport"
)

// planReload asks the daemon for the plan of a reload of file, over the
// control handler as rmqlb reload --dry-run does, and checks that it
// changed nothing: the running model and the last reload are the same
// objects as before.
func (h *harness) planReload(file string) control.ReloadPlan {
	h.t.Helper()
	h.write(file)
	h.d.mu.Lock()
	cfg, last := h.d.cfg, h.d.lastReload
	h.d.mu.Unlock()
	res, err := h.d.Handle(context.Background(), control.Request{Command: "reload", Args: []string{"dry-run"}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	if h.d.cfg != cfg || h.d.lastReload != last {
		h.t.Fatal("a dry run changed the running model or the last reload")
	}
	return res.(control.ReloadPlan)
}

func planned(p control.ReloadPlan) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.Change)
	}
	return out
}

// TestPlanReloadMatchesReload: for a sequence of files that touch every
// kind of change a reload applies live, one that needs a restart, and one
// that swaps VIPs between instances (refused, with an instance added that
// takes a VIP one of them keeps and a listener on a VIP of the refused
// one), the dry run lists exactly what the reload made right after it
// lists as applied, in its order, and the same refusals and changes for a
// restart; a dry run changes nothing, and of a file that does not load it
// says why; other arguments get the usage.
func TestPlanReloadMatchesReload(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	port2 := freeport.Addr(t, "127.0.0.1")
	port3 := freeport.Addr(t, "127.0.0.1")
	metrics := freeport.Addr(t, "127.0.0.1")
	mgmt := "  - name: mgmt\n    bind: " + port2 + "\n    backends: [{name: c, address: " + l.c.addr() + ", check: {type: none}}]\n"
	second := "vrrp_instances:\n  - name: w\n    interface: eth1\n    virtual_router_id: 2\n    version: 3\n    advert_interval: 100ms\n    priority: 100\n    virtual_ipaddress: [192.0.2.110/32]\n"
	globals := "control_socket: SOCKET\nlog_level: debug\nmetrics_listen: " + metrics + "\nstate_file: " + filepath.Join(h.dir, "state.json")
	third := "  - name: x\n    interface: eth2\n    virtual_router_id: 3\n    version: 3\n    priority: 100\n    virtual_ipaddress: [192.0.2.101/32]\n"
	swapped := l.file("vrrp_instances:\n", second+third, "control_socket: SOCKET", globals,
		"priority: 150\n    virtual_ipaddress: [192.0.2.100/32]", "priority: 150\n    virtual_ipaddress: [192.0.2.110/32]",
		"priority: 100\n    virtual_ipaddress: [192.0.2.110/32]", "priority: 100\n    virtual_ipaddress: [192.0.2.100/32, 192.0.2.120/32]") +
		"  - name: onw\n    bind: 192.0.2.120:5672\n    backends: [{name: c, address: " + l.c.addr() + ", check: {type: none}}]\n"
	// mustApply names a change a step's reload must list, mustRefuse the
	// start of a refusal it must make.
	mustApply := map[string]string{
		"an interface changed: a restart":                      "metrics_listen: none",
		"VIPs swapped, a listener on a VIP of the one refused": "listener onw: 192.0.2.120 is no VIP of this daemon now",
	}
	mustRefuse := map[string][]string{"VIPs swapped, a listener on a VIP of the one refused": {
		"vrrp instance w: 192.0.2.100 is still a VIP of vrrp instance v",
		"vrrp instance x: 192.0.2.101 is still a VIP of vrrp instance v",
	}}
	files := []struct {
		name string
		file string
	}{
		{"the same file", l.file()},
		{"listener settings and a backend added", l.file("policy: roundrobin", "policy: leastconn\n    maxconn: 100\n    idle_timeout: 1h",
			"      - {name: b, address: "+l.b.addr()+", weight: 10}", "      - {name: b, address: "+l.b.addr()+", weight: 20}\n      - {name: c, address: "+l.c.addr()+", weight: 10}")},
		{"a backend removed", l.file("policy: roundrobin", "policy: leastconn\n    maxconn: 100\n    idle_timeout: 1h")},
		{"a listener added", l.file() + mgmt},
		{"a listener moved", l.file() + strings.Replace(mgmt, port2, port3, 1)},
		{"a listener removed, a check changed", l.file("rise: 1, fall: 1", "rise: 2, fall: 1")},
		{"checks removed", l.file("check: {type: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 1}", "check: {type: none}",
			"track: [{check: amqp/a, weight: -60}]", "track: []")},
		{"checks added again, tracks again", l.file()},
		{"vrrp settings and VIPs", l.file("priority: 150\n    virtual_ipaddress: [192.0.2.100/32]", "priority: 140\n    virtual_ipaddress: [192.0.2.100/32, 192.0.2.101/32]")},
		{"an instance added, log level, metrics and state file", l.file("vrrp_instances:\n", second, "control_socket: SOCKET", globals,
			"priority: 150\n    virtual_ipaddress: [192.0.2.100/32]", "priority: 150\n    virtual_ipaddress: [192.0.2.100/32, 192.0.2.101/32]")},
		{"VIPs swapped, a listener on a VIP of the one refused", swapped},
		{"an instance removed", l.file("control_socket: SOCKET", globals)},
		{"an interface changed: a restart", l.file("interface: eth0", "interface: eth9")},
	}
	reloadSchema, err := statusschema.CompileReload()
	if err != nil {
		t.Fatal(err)
	}
	planSchema, err := statusschema.CompileReloadPlan()
	if err != nil {
		t.Fatal(err)
	}
	valid := func(what string, sch *jsonschema.Schema, v any) {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := statusschema.Validate(sch, b); err != nil {
			t.Fatalf("%s does not match its schema: %v\n%s", what, err, b)
		}
	}
	for _, f := range files {
		p := h.planReload(f.file)
		valid(f.name+": the dry run", planSchema, p)
		if p.Error != "" || p.Blocked != "" {
			t.Fatalf("%s: dry run: %+v", f.name, p)
		}
		r := h.reload(f.file)
		valid(f.name+": the reload", reloadSchema, r)
		if r.Error != "" || len(r.Refused) > 0 && mustRefuse[f.name] == nil {
			t.Fatalf("%s: reload: %+v", f.name, r)
		}
		if !slices.Equal(planned(p), r.Applied) || !slices.Equal(p.Pending, r.Pending) || !slices.Equal(p.Refused, r.Refused) {
			t.Fatalf("%s:\ndry run %q\npending %q\nrefused %q\nreload  %q\npending %q\nrefused %q", f.name, planned(p), p.Pending, p.Refused, r.Applied, r.Pending, r.Refused)
		}
		for _, want := range mustRefuse[f.name] {
			if !slices.ContainsFunc(r.Refused, func(s string) bool { return strings.HasPrefix(s, want) }) {
				t.Fatalf("%s: the reload refused %q, not %q", f.name, r.Refused, want)
			}
		}
		if want := mustApply[f.name]; want != "" && !slices.Contains(r.Applied, want) {
			t.Fatalf("%s: the reload applied %q, not %q", f.name, r.Applied, want)
		}
		if f.name != "the same file" && len(p.Changes)+len(p.Pending) == 0 {
			t.Fatalf("%s: the dry run found nothing to do", f.name)
		}
	}
	for _, args := range [][]string{{"now"}, {"dry-run", "now"}, {"--dry-run"}, {"now", "/etc/rmqlb/rmqlb.yaml"}, {"dry-run", "/a", "/b"}} {
		if _, err := h.d.Handle(context.Background(), control.Request{Command: "reload", Args: args}); err == nil || err.Error() != "usage: reload [dry-run [ABSOLUTE-PATH]]" {
			t.Errorf("reload %q: %v, want the usage", args, err)
		}
	}
	p := h.planReload("listeners: [")
	valid("the dry run of a bad file", planSchema, p)
	if p.Error == "" || len(p.Changes) != 0 {
		t.Fatalf("dry run of a file that does not parse: %+v", p)
	}
	if s := h.d.Status(); s.Reload == nil || !s.Reload.OK() {
		t.Fatalf("the last reload after a dry run of a bad file: %+v", s.Reload)
	}
}

// TestPlanReloadOf: a dry run of a candidate file plans a reload of it in
// place of the daemon's file, names it, and changes nothing: the
// daemon's file is then reloaded as it was, and planned as it is (also
// when named as a candidate, which the plan then does not name). A
// candidate that does not load, is missing or is no regular file is a
// plan with its error. Through the control socket only root and the
// daemon's user may ask for it, as the daemon reads the file with its
// privileges.
func TestPlanReloadOf(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startChecked(t, h)
	candidate := filepath.Join(h.dir, "candidate.yaml")
	if err := os.WriteFile(candidate, []byte(strings.ReplaceAll(l.file("policy: roundrobin", "policy: leastconn"), "SOCKET", h.socket())), 0o600); err != nil {
		t.Fatal(err)
	}
	h.d.mu.Lock()
	cfg, last := h.d.cfg, h.d.lastReload
	h.d.mu.Unlock()
	p := h.d.PlanReloadOf(candidate)
	if p.File != candidate || p.Error != "" || len(p.Refused) != 0 || len(p.Changes) != 1 || p.Changes[0].Change != "listener amqp updated" ||
		!slices.Contains(p.Changes[0].Effects, "policy changed, for new connections") {
		t.Fatalf("dry run of the candidate: %+v", p)
	}
	h.d.mu.Lock()
	unchanged := h.d.cfg == cfg && h.d.lastReload == last
	h.d.mu.Unlock()
	if !unchanged {
		t.Fatal("a dry run of a candidate changed the running model or the last reload")
	}
	if p := h.planReload(l.file()); p.File != "" || len(p.Changes) != 0 || len(p.Pending) != 0 {
		t.Fatalf("dry run of the daemon's file after the candidate's: %+v", p)
	}
	if p := h.d.PlanReloadOf(h.path); p.File != "" || len(p.Changes) != 0 || p.Error != "" {
		t.Fatalf("dry run of the daemon's own file named as a candidate: %+v", p)
	}
	if r := h.reload(l.file()); !r.OK() || len(r.Applied) != 0 {
		t.Fatalf("reload of the daemon's file after the candidate's dry run: %+v", r)
	}

	if err := os.WriteFile(candidate, []byte("listeners: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	if p := h.d.PlanReloadOf(candidate); p.File != candidate || p.Error == "" || len(p.Changes) != 0 {
		t.Fatalf("dry run of a candidate that does not parse: %+v", p)
	}
	missing := filepath.Join(h.dir, "missing.yaml")
	if p := h.d.PlanReloadOf(missing); !strings.Contains(p.Error, "no such file") {
		t.Fatalf("dry run of a missing candidate: %+v", p)
	}
	if p := h.d.PlanReloadOf("/dev/zero"); !strings.Contains(p.Error, "not a regular file") {
		t.Fatalf("dry run of a device: %+v", p)
	}
	// A client that is not root nor the daemon's user: a request without
	// a peer stands for one.
	_, err := h.d.Handle(context.Background(), control.Request{Command: "reload", Args: []string{"dry-run", candidate}})
	if err == nil || !strings.Contains(err.Error(), "only root or the daemon's user") {
		t.Fatalf("dry run of a candidate asked by a control group member: %v", err)
	}
}

// TestPlanReloadEffects: the dry run says what a change does to the
// sessions and addresses running now, and they are still there after it:
// a removed backend's sessions closed at once or kept, as on_marked_down
// says; a removed or moved listener's left to finish within its
// graceful_timeout; those of clients outside new client lists counted and
// kept; the clients a persistence table turned off forgets counted; a
// MASTER instance removed advertises priority 0 and its VIPs leave; a VIP
// removed from a MASTER leaves the interface; a new priority is shown;
// the sessions an earlier reload kept of a removed backend closed by a
// file that shuts them; a new priority of a released instance is not
// advertised until it is ready.
func TestPlanReloadEffects(t *testing.T) {
	l := newLab(t)
	mgmtBind := freeport.Addr(t, "127.0.0.1")
	mgmt := "  - name: mgmt\n    bind: " + mgmtBind + "\n    persistence_timeout: 1m\n    backends: [{name: c, address: " + l.c.addr() + ", check: {type: none}}]\n"
	file := l.file() + mgmt
	h := newHarness(t, file)
	startMaster(t, h)
	var conns []net.Conn
	for _, addr := range []string{l.bind, l.bind, mgmtBind} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// Round robin over a and b of equal weight: one session each.
	for _, b := range h.d.Status().Listeners[0].Backends {
		if b.Active != 1 {
			t.Fatalf("backend %s has %d sessions, want 1", b.Name, b.Active)
		}
	}
	effects := func(p control.ReloadPlan, change string) string {
		t.Helper()
		for _, c := range p.Changes {
			if c.Change == change {
				return strings.Join(c.Effects, "; ")
			}
		}
		t.Fatalf("no change %q in %+v", change, p)
		return ""
	}
	noB := strings.Replace(file, "      - {name: b, address: "+l.b.addr()+", weight: 10}\n", "", 1)
	vrrpAt, listenersAt := strings.Index(file, "vrrp_instances:"), strings.Index(file, "listeners:")
	noVRRP := file[:vrrpAt] + file[listenersAt:]
	for _, c := range []struct {
		name, file, change, want string
	}{
		{"backend removed", noB, "listener amqp updated",
			"backend b removed: its 1 session is closed at once (on_marked_down shutdown-sessions)"},
		{"backend removed, sessions kept", strings.Replace(noB, "policy: roundrobin", "policy: roundrobin\n    on_marked_down: keep-sessions", 1), "listener amqp updated",
			"backend b removed: its 1 session is kept until it ends (on_marked_down keep-sessions); on_marked_down changed, for new connections"},
		{"clients outside the new lists", strings.Replace(file, "policy: roundrobin", "policy: roundrobin\n    allowed_clients: [192.0.2.0/24]", 1), "listener amqp updated",
			"client lists changed: 1 client address with 2 sessions now outside them: kept until they end (rmqlb status lists them)"},
		{"no client outside the new lists", strings.Replace(file, "policy: roundrobin", "policy: roundrobin\n    denied_clients: [127.0.0.9/32]", 1), "listener amqp updated",
			"client lists changed: no client with a session now is outside them"},
		{"persistence off", strings.Replace(file, "persistence_timeout: 1m", "persistence_timeout: 0s", 1), "listener mgmt updated",
			"persistence_timeout changed, for new connections; the persistence table starts afresh: 1 client loses the backend it stuck to"},
		{"listener removed", l.file(), "listener mgmt removed",
			"its 1 session may finish within 10s (graceful_timeout); the rest are then closed"},
		{"listener moved", l.file() + strings.Replace(mgmt, mgmtBind, freeport.Addr(t, "127.0.0.1"), 1), "listener mgmt moved on ",
			"stops accepting on " + mgmtBind + "; its 1 session may finish within 10s (graceful_timeout); the rest are then closed"},
		{"instance removed", noVRRP, "vrrp instance v removed",
			"it is MASTER here: it advertises priority 0 so that a backup takes over at once, and 192.0.2.100 leaves this host"},
		{"VIP removed, priority lowered", strings.Replace(file, "priority: 150\n    virtual_ipaddress: [192.0.2.100/32]", "priority: 120\n    virtual_ipaddress: [192.0.2.101/32]", 1),
			"vrrp instance v updated: priority, virtual_ipaddress",
			"priority 150 -> 120 (MASTER here); 192.0.2.101 added to the interface now, with gratuitous ARP; 192.0.2.100 removed from the interface now; " +
				"the new VIPs share none with the previous ones: routers of VRID 1 still on the previous list drop this host's adverts (address_mismatch) and take over beside it until they are reloaded too: reload the backups first"},
		{"VIP added", strings.Replace(file, "virtual_ipaddress: [192.0.2.100/32]", "virtual_ipaddress: [192.0.2.100/32, 192.0.2.101/32]", 1),
			"vrrp instance v updated: virtual_ipaddress",
			"192.0.2.101 added to the interface now, with gratuitous ARP; " +
				"routers of VRID 1 still on the previous list accept this host's adverts (they share 192.0.2.100) and report the difference until they are reloaded too (keepalived 2.2.7 drops them)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := h.planReload(c.file)
			if p.Error != "" {
				t.Fatal(p.Error)
			}
			change := c.change
			if strings.HasSuffix(change, " on ") {
				for _, pc := range p.Changes {
					if strings.HasPrefix(pc.Change, change) {
						change = pc.Change
					}
				}
			}
			if got := effects(p, change); got != c.want {
				t.Fatalf("effects of %q:\n got %q\nwant %q", change, got, c.want)
			}
		})
	}
	// b removed with its session kept; a file that shuts the sessions of
	// removed backends closes it.
	keep := strings.Replace(noB, "policy: roundrobin", "policy: roundrobin\n    on_marked_down: keep-sessions", 1)
	if r := h.reload(keep); !r.OK() {
		t.Fatalf("reload keeping b's session: %+v", r)
	}
	want := "the 1 session kept of backends removed before is closed at once (on_marked_down shutdown-sessions); on_marked_down changed, for new connections"
	if got := effects(h.planReload(noB), "listener amqp updated"); got != want {
		t.Fatalf("effects of shutting the kept sessions:\n got %q\nwant %q", got, want)
	}
	for i, c := range conns {
		if err := roundTrip(c, []byte("y")); err != nil {
			t.Fatalf("session %d after the dry runs: %v", i, err)
		}
	}
	// Released, the instance advertises its new priority only once ready.
	if _, err := h.d.ReleaseVRRP(context.Background(), "v", 0); err != nil {
		t.Fatal(err)
	}
	lowered := strings.Replace(file, "priority: 150", "priority: 120", 1)
	want = "priority 150 -> 120 (MASTER here); released: it advertises priority 0 until rmqlb vrrp ready"
	if got := effects(h.planReload(lowered), "vrrp instance v updated: priority"); got != want {
		t.Fatalf("effects of a new priority while released:\n got %q\nwant %q", got, want)
	}
}

// TestChangedListenerKeys: a change of any field of a listener but those
// described apart (name, bind, client lists and their files, backends)
// is named, so that a field added to config.Listener cannot go unsaid.
func TestChangedListenerKeys(t *testing.T) {
	apart := map[string]bool{"Field": true, "Name": true, "Bind": true, "AllowedClients": true, "DeniedClients": true,
		"AllowedClientsFile": true, "DeniedClientsFile": true, "AllowedFromFile": true, "DeniedFromFile": true, "Backends": true}
	typ := reflect.TypeFor[config.Listener]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if apart[f.Name] {
			continue
		}
		var ol, nl config.Listener
		v := reflect.ValueOf(&nl).Elem().Field(i)
		switch v.Kind() {
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int, reflect.Int64:
			v.SetInt(7)
		case reflect.Uint8:
			v.SetUint(1)
		case reflect.String:
			v.SetString("x")
		default:
			t.Fatalf("field %s of kind %s: teach this test", f.Name, v.Kind())
		}
		if keys := changedListenerKeys(&ol, &nl); len(keys) != 1 {
			t.Errorf("a change of %s names %q", f.Name, keys)
		}
	}
}
