package daemon

import (
	"strings"
	"testing"
)

// withoutInstances returns planBase without its vrrp_instances section.
func withoutInstances() string {
	return strings.Replace(planBase, planBase[strings.Index(planBase, "vrrp_instances:"):strings.Index(planBase, "listeners:")], "", 1)
}

// TestDiffListenerOnVIPOfRefusedInstance: a reload adds instance v, whose
// VIP is the bind of listener amqp, and v cannot start. The listener's
// file is unchanged: no reload changes it, neither this one nor the same
// file again while v keeps failing to start; the running model says the
// listener is on no VIP of this daemon (what apply's sync gives it), and
// once v starts, on v's.
func TestDiffListenerOnVIPOfRefusedInstance(t *testing.T) {
	old, nc := mustParse(t, withoutInstances()), mustParse(t, planBase)
	p := Diff(old, nc)
	if len(p.Listeners) != 0 || len(p.VRRP) != 1 || p.VRRP[0].Op != OpAdd {
		t.Errorf("plan %s, want v added and nothing else (the listener's VIP follows v once it runs)", planString(p))
	}
	lo := noFailures().leftovers
	lo.instances["v"] = true
	run := running(old, nc, p, lo)
	if bc := run.BalancerConfig(&run.Listeners[0]); bc.GracefulTimeout < 0 {
		t.Errorf("running listener's graceful timeout %v: v does not run, its bind is no VIP of this daemon", bc.GracefulTimeout)
	}
	for i := range 2 {
		again := Diff(run, nc)
		if len(again.Listeners) != 0 || len(again.VRRP) != 1 || again.VRRP[0].Op != OpAdd {
			t.Errorf("the same file again (%d): %s, want v added and nothing else", i+1, planString(again))
		}
		run = running(run, nc, again, lo)
	}
	started := running(run, nc, Diff(run, nc), noFailures().leftovers)
	if bc := started.BalancerConfig(&started.Listeners[0]); bc.GracefulTimeout >= 0 {
		t.Errorf("running listener's graceful timeout %v once v runs: its bind is v's VIP", bc.GracefulTimeout)
	}
}
