package daemon

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/internal/freeport"
)

// TestReloadKeptInstanceDropsTracksOfRemoved: a reload changes v's
// interface (a restart) and removes listener mgmt, which v tracks, with
// v's rule of it. v runs on with its old rules but that one: the reload
// says it dropped it, refuses nothing, status lists the rules the running
// model has, and they work (a's check failing lowers v's priority).
func TestReloadKeptInstanceDropsTracksOfRemoved(t *testing.T) {
	l := newLab(t)
	mgmt := "  - name: mgmt\n    bind: " + freeport.Addr(t, "127.0.0.1") + "\n    backends: [{name: x, address: " + l.c.addr() + ", check: {type: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 1}}]\n"
	h := newHarness(t, l.file("track: [{check: amqp/a, weight: -60}]", "track: [{check: amqp/a, weight: -60}, {listener: mgmt, weight: -20}]")+mgmt)
	h.start()
	h.checks.get(idA).answer(t, healthcheck.Result{})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.checks.get(backend.ID{Listener: "mgmt", Name: "x"}).answer(t, healthcheck.Result{})
	h.ready()

	r := h.reload(l.file("interface: eth0", "interface: eth1"))
	if len(r.Refused) != 0 || len(r.Pending) != 1 || !strings.Contains(r.Pending[0], "interface") ||
		!slices.ContainsFunc(r.Applied, func(s string) bool {
			return strings.Contains(s, "tracks of vrrp instance v: dropped its rule of listener mgmt")
		}) {
		t.Fatalf("reload: %+v, want v's interface pending, its rule of mgmt dropped, nothing refused", r)
	}
	h.d.mu.Lock()
	model := slices.Clone(h.d.cfg.VRRP[0].Track)
	h.d.mu.Unlock()
	s := h.d.Status()
	var rules []string
	for _, tr := range s.VRRP[0].Tracks {
		rules = append(rules, tr.Rule)
	}
	if len(model) != 1 || model[0].Backend != idA || !slices.Equal(rules, []string{idA.String()}) {
		t.Fatalf("running model's rules %+v, status's %q; want amqp/a in both", model, rules)
	}
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{Err: errors.New("connecting: connection refused")})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	h.eventually("v's priority lowered by a's rule", func() bool {
		s := h.d.Status()
		return len(s.VRRP) == 1 && s.VRRP[0].Snapshot.EffectivePriority == 90
	})
}
