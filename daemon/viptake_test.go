package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/config"
)

// twoInstances is the lab's file with a second instance w (VRID 2,
// 192.0.2.101) beside v.
func twoInstances(l *lab, replace ...string) string {
	w := "  - name: w\n    interface: eth0\n    virtual_router_id: 2\n    version: 3\n    advert_interval: 100ms\n    priority: 100\n    virtual_ipaddress: [192.0.2.101/32]\nlisteners:\n"
	s := strings.Replace(l.file(), "listeners:\n", w, 1)
	for i := 0; i+1 < len(replace); i += 2 {
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	return s
}

// TestReloadRefusedGiverKeepsVIPFromTaker: a reload moves 192.0.2.100 from
// v to w, and v's change is refused (its VIP set cannot take its new
// addresses): v keeps the VIP, so w's take of it is refused too, naming
// both instances and the VIP. No VIP is ever on two instances, in what
// runs or in the running model; the same file again is refused the same
// way, and once v's change goes through, the move is made.
func TestReloadRefusedGiverKeepsVIPFromTaker(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, twoInstances(l))
	startChecked(t, h)
	moved := twoInstances(l, "virtual_ipaddress: [192.0.2.100/32]", "virtual_ipaddress: [192.0.2.102/32]",
		"virtual_ipaddress: [192.0.2.101/32]", "virtual_ipaddress: [192.0.2.101/32, 192.0.2.100/32]")
	v := h.vrrp.get("v")
	v.mu.Lock()
	v.updateErr = errors.New("no room for 192.0.2.102")
	v.mu.Unlock()
	for range 2 {
		r := h.reload(moved)
		refused := strings.Join(r.Refused, "\n")
		if len(r.Refused) != 2 || !strings.Contains(refused, "vrrp instance v: ") ||
			!strings.Contains(refused, "vrrp instance w: 192.0.2.100 is still a VIP of vrrp instance v") {
			t.Fatalf("reload: %+v, want v's change refused and w's take of 192.0.2.100 refused naming v", r)
		}
		assertOneOwner(t, h)
		w := h.vrrp.get("w")
		w.mu.Lock()
		wv := slices.Clone(w.vips)
		w.mu.Unlock()
		if want := []netip.Prefix{netip.MustParsePrefix("192.0.2.101/32")}; !slices.Equal(wv, want) {
			t.Fatalf("w's VIP set holds %v, want %v", wv, want)
		}
	}
	v.mu.Lock()
	v.updateErr = nil
	v.mu.Unlock()
	if r := h.reload(moved); !r.OK() {
		t.Fatalf("reload once v's VIPs can change: %+v", r)
	}
	assertOneOwner(t, h)
	h.d.mu.Lock()
	w, _ := h.d.cfg.VRRPInstance("w")
	h.d.mu.Unlock()
	if !slices.Contains(w.VIPs, netip.MustParsePrefix("192.0.2.100/32")) {
		t.Fatalf("w runs with %v after the change went through", w.VIPs)
	}
}

// assertOneOwner fails the test when a VIP is on two instances, in the
// running model or in the instances' VIP sets.
func assertOneOwner(t *testing.T, h *harness) {
	t.Helper()
	h.d.mu.Lock()
	run := h.d.cfg
	h.d.mu.Unlock()
	if ms := modelProblems("the running model", run); len(ms) > 0 {
		t.Fatalf("%s", strings.Join(ms, "\n"))
	}
	held := map[netip.Addr]string{}
	for _, in := range run.VRRP {
		f := h.vrrp.get(in.Name)
		f.mu.Lock()
		vips := slices.Clone(f.vips)
		f.mu.Unlock()
		for _, p := range vips {
			if o, dup := held[p.Addr()]; dup {
				t.Fatalf("VIP %s is in the VIP sets of %s and %s", p.Addr(), o, in.Name)
			}
			held[p.Addr()] = in.Name
		}
	}
}

// vipFile is a file with one listener and the instances of ins, each
// "name vrid vip,vip...".
func vipFile(t *testing.T, ins ...string) *config.Config {
	t.Helper()
	s := "control_socket: /run/rmqlb/test.sock\nvrrp_instances:\n"
	for _, in := range ins {
		f := strings.Fields(in)
		s += fmt.Sprintf("  - name: %s\n    interface: eth0\n    virtual_router_id: %s\n    version: 3\n    advert_interval: 100ms\n    virtual_ipaddress: [%s]\n", f[0], f[1], f[2])
	}
	s += "listeners:\n  - name: amqp\n    bind: 10.0.0.1:5672\n    backends: [{name: a, address: 10.0.0.2:5672}]\n"
	return mustParse(t, s)
}

// refuseTakes applies the VRRP changes of p from old as apply does, the
// instances of own refused for their own reasons, and returns the
// refusals by instance: those of own, and those of vipHolders.
func refuseTakes(old *config.Config, p Plan, own map[string]bool) map[string]error {
	out := map[string]error{}
	h := newVIPHolders(old, p)
	for _, c := range vipOrder(p.VRRP) {
		if c.Op == OpRemove || (c.Op == OpUpdate && !c.Settings && !c.VIPs) {
			continue
		}
		err := h.refusal(c)
		if err == nil && own[c.Name] {
			err = errors.New("refused for its own reason")
		}
		if err != nil {
			out[c.Name] = err
			continue
		}
		h.applied(c)
	}
	return out
}

// TestVIPTakes: the VRRP changes of a reload are applied givers first, and
// a change that takes a VIP another instance still holds is refused: after
// a refused giver (in a chain, each taker after it), and in a swap, where
// one of the two must take first.
func TestVIPTakes(t *testing.T) {
	for _, c := range []struct {
		name     string
		old, new []string
		own      []string
		order    []string
		refused  map[string]string // by instance, a part of the reason
	}{
		{"chain", []string{"x 3 10.0.0.102/24", "w 2 10.0.0.101/24", "v 1 10.0.0.100/24"},
			[]string{"x 3 10.0.0.101/24", "w 2 10.0.0.100/24", "v 1 10.0.0.103/24"},
			nil, []string{"v", "w", "x"}, map[string]string{}},
		{"chain with a refused head", []string{"x 3 10.0.0.102/24", "w 2 10.0.0.101/24", "v 1 10.0.0.100/24"},
			[]string{"x 3 10.0.0.101/24", "w 2 10.0.0.100/24", "v 1 10.0.0.103/24"},
			[]string{"v"}, []string{"v", "w", "x"},
			map[string]string{"v": "own", "w": "10.0.0.100 is still a VIP of vrrp instance v: ", "x": "10.0.0.101 is still a VIP of vrrp instance w: "}},
		{"added instance takes a refused giver's VIP", []string{"v 1 10.0.0.100/24"},
			[]string{"w 2 10.0.0.100/24", "v 1 10.0.0.103/24"},
			[]string{"v"}, []string{"v", "w"},
			map[string]string{"v": "own", "w": "10.0.0.100 is still a VIP of vrrp instance v: "}},
		{"swap", []string{"v 1 10.0.0.100/24", "w 2 10.0.0.101/24"},
			[]string{"v 1 10.0.0.101/24", "w 2 10.0.0.100/24"},
			nil, []string{"v", "w"},
			map[string]string{"v": "which takes one of v's in the same reload: VIPs swapped", "w": "10.0.0.100 is still a VIP of vrrp instance v: "}},
	} {
		t.Run(c.name, func(t *testing.T) {
			old, nc := vipFile(t, c.old...), vipFile(t, c.new...)
			p := Diff(old, nc)
			var order []string
			for _, ch := range vipOrder(p.VRRP) {
				order = append(order, ch.Name)
			}
			if !slices.Equal(order, c.order) {
				t.Errorf("order %q, want %q", order, c.order)
			}
			own := map[string]bool{}
			for _, n := range c.own {
				own[n] = true
			}
			got := refuseTakes(old, p, own)
			for name, want := range c.refused {
				if err := got[name]; err == nil || (want != "own" && !strings.Contains(err.Error(), want)) {
					t.Errorf("instance %s: refusal %v, want one with %q", name, err, want)
				}
			}
			for name, err := range got {
				if _, ok := c.refused[name]; !ok {
					t.Errorf("instance %s refused: %v", name, err)
				}
			}
			lo := noFailures().leftovers
			for name := range got {
				if _, existed := old.VRRPInstance(name); existed {
					lo.settings[name] = true
				} else {
					lo.instances[name] = true
				}
			}
			if ms := modelProblems("the running model", running(old, nc, p, lo)); len(ms) > 0 {
				t.Errorf("%s", strings.Join(ms, "\n"))
			}
		})
	}
}
