package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// walkBase has four instances: a and b hold a VIP each, c tracks a
// checked backend, d does not run (see walkDoer).
const walkBase = `vrrp_instances:
  - {name: a, interface: eth0, virtual_router_id: 1, priority: 100, virtual_ipaddress: [10.0.0.100/24]}
  - {name: b, interface: eth0, virtual_router_id: 2, priority: 100, virtual_ipaddress: [10.0.0.101/24]}
  - {name: c, interface: eth0, virtual_router_id: 3, priority: 100, virtual_ipaddress: [10.0.0.102/24], track: [{check: amqp/b, weight: -60}]}
  - {name: d, interface: eth0, virtual_router_id: 4, priority: 100, virtual_ipaddress: [10.0.0.103/24]}
listeners:
  - name: amqp
    bind: 10.0.0.100:5672
    backends:
      - {name: a, address: 10.0.0.1:5672}
      - {name: b, address: 10.0.0.2:5672}
`

// walkDoer records what walkVRRP asks of it and fails the parts named in
// fail ("start e", "hooks a", "update a", "tracks a").
type walkDoer struct {
	notRunning []string
	fail       []string
	calls      []string
}

func (w *walkDoer) runs(name string) bool { return !slices.Contains(w.notRunning, name) }

func (w *walkDoer) do(part, name string) error {
	w.calls = append(w.calls, part+" "+name)
	if slices.Contains(w.fail, part+" "+name) {
		return errors.New("failed")
	}
	return nil
}

func (w *walkDoer) start(c VRRPChange) error    { return w.do("start", c.Name) }
func (w *walkDoer) setHooks(c VRRPChange) error { return w.do("hooks", c.Name) }
func (w *walkDoer) update(c VRRPChange) error   { return w.do("update", c.Name) }
func (w *walkDoer) setTracks(name string, in *config.VRRPInstance) error {
	return w.do(fmt.Sprintf("tracks(%d)", len(in.Track)), name)
}

// TestWalkVRRP: the VRRP parts of a reload, as Daemon.apply makes them
// and a dry run lists them: a VIP swap is refused before anything is
// asked of the instances, an update of an instance that does not run is
// refused and its VIPs stay its own (an instance that takes one is told
// so, not of a swap), a part that fails is refused alone (the instance's
// other parts go on), and an instance the plan leaves alone drops the
// rule of a backend the file removed.
func TestWalkVRRP(t *testing.T) {
	old := mustParse(t, walkBase)
	// a and b swap their VIPs (refused: a swap cannot be made in one
	// reload) and a gets hooks; d gets a new priority and gives its VIP
	// to g, which is added (when d does not run, d keeps it and g is
	// refused); e is added; c gets a new VRID (a restart) and f, added
	// on c's VIP, awaits it; amqp/b goes, under c's rule.
	file := walkBase
	for _, r := range [][2]string{
		{"priority: 100, virtual_ipaddress: [10.0.0.100/24]}", "priority: 100, virtual_ipaddress: [10.0.0.101/24], notify: {master: [/bin/true]}}"},
		{"priority: 100, virtual_ipaddress: [10.0.0.101/24]}", "priority: 100, virtual_ipaddress: [10.0.0.100/24]}"},
		{"virtual_router_id: 4, priority: 100, virtual_ipaddress: [10.0.0.103/24]", "virtual_router_id: 4, priority: 90, virtual_ipaddress: [10.0.0.108/24]"},
		{"virtual_router_id: 3, priority: 100, virtual_ipaddress: [10.0.0.102/24], track: [{check: amqp/b, weight: -60}]}", "virtual_router_id: 13, priority: 100, virtual_ipaddress: [10.0.0.107/24]}"},
		{"listeners:", `  - {name: e, interface: eth0, virtual_router_id: 5, priority: 100, virtual_ipaddress: [10.0.0.104/24]}
  - {name: f, interface: eth0, virtual_router_id: 6, priority: 100, virtual_ipaddress: [10.0.0.102/24]}
  - {name: g, interface: eth0, virtual_router_id: 7, priority: 100, virtual_ipaddress: [10.0.0.103/24]}
listeners:`},
		{"      - {name: b, address: 10.0.0.2:5672}\n", ""},
	} {
		if !strings.Contains(file, r[0]) {
			t.Fatalf("no %q", r[0])
		}
		file = strings.Replace(file, r[0], r[1], 1)
	}
	nc := mustParse(t, file)
	p := Diff(old, nc)
	if len(p.Restart) != 2 {
		t.Fatalf("c and f should await a restart: %q", p.Restart)
	}
	swapA := "vrrp instance a: 10.0.0.101 is still a VIP of vrrp instance b, which takes one of a's in the same reload: VIPs swapped between instances cannot move in one reload (move them in steps: a VIP given up by one reload, taken by the next)"
	swapB := "vrrp instance b: 10.0.0.100 is still a VIP of vrrp instance a: taking it too would put it on two instances (the next reload tries again)"
	keptByD := "10.0.0.103 is still a VIP of vrrp instance d: taking it too would put it on two instances (the next reload tries again)"
	dropped := "tracks of vrrp instance c: dropped its rule of backend amqp/b, which the file no longer has or checks (the instance awaits a restart with its other rules)"
	for _, tc := range []struct {
		name       string
		notRunning []string
		fail       []string
		calls      []string
		applied    []string
		refused    []string
		// failed is the leftovers' instances, settings, notify and
		// tracks.
		failed string
	}{
		{
			name:       "nothing fails",
			notRunning: []string{"d"},
			calls:      []string{"start e", "hooks a", "tracks(0) c"},
			applied:    []string{"0 e: vrrp instance e added", "1 a: notify hooks of vrrp instance a", "4 c: " + dropped},
			refused:    []string{"vrrp instance d: not running", "vrrp instance g: " + keptByD, swapA, swapB},
			failed:     "map[d:true g:true] map[a:true b:true] map[] map[]",
		},
		{
			name:    "d runs",
			calls:   []string{"update d", "start e", "start g", "hooks a", "tracks(0) c"},
			applied: []string{"2 d: vrrp instance d updated: priority, virtual_ipaddress", "0 e: vrrp instance e added", "0 g: vrrp instance g added", "1 a: notify hooks of vrrp instance a", "4 c: " + dropped},
			refused: []string{swapA, swapB},
			failed:  "map[] map[a:true b:true] map[] map[]",
		},
		{
			name:    "each part fails",
			fail:    []string{"update d", "start e", "hooks a", "tracks(0) c"},
			calls:   []string{"update d", "start e", "hooks a", "tracks(0) c"},
			refused: []string{"vrrp instance d: failed", "vrrp instance e: failed", "vrrp instance g: " + keptByD, "notify hooks of vrrp instance a: failed", swapA, swapB, "tracks of vrrp instance c: failed (it keeps its old rules)"},
			failed:  "map[e:true g:true] map[a:true b:true d:true] map[a:true] map[c:true]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			do := &walkDoer{notRunning: tc.notRunning, fail: tc.fail}
			failed := newLeftovers()
			var applied, refused []string
			walkVRRP(old, nc, p, do, failed, func(c VRRPChange, part vrrpPart, line string) {
				applied = append(applied, fmt.Sprintf("%d %s: %s", part, c.Name, line))
			}, func(what string, err error) { refused = append(refused, what+": "+err.Error()) })
			if !slices.Equal(do.calls, tc.calls) {
				t.Errorf("asked %q\nwant   %q", do.calls, tc.calls)
			}
			if !slices.Equal(applied, tc.applied) {
				t.Errorf("applied %q\nwant    %q", applied, tc.applied)
			}
			if !slices.Equal(refused, tc.refused) {
				t.Errorf("refused %q\nwant    %q", refused, tc.refused)
			}
			if got := fmt.Sprint(failed.instances, failed.settings, failed.notify, failed.tracks); got != tc.failed {
				t.Errorf("failed %s, want %s", got, tc.failed)
			}
		})
	}
}
