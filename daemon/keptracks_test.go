package daemon

import (
	"strings"
	"testing"
)

// TestRunningTracksOfInstanceAwaitingRestart: an instance awaiting a
// restart runs on with its old track rules, but not with those naming a
// listener or backend the file removed (or no longer checks): they track
// nothing that runs, and the running model, which status shows, drops
// them. Its other rules stay; the same file again changes nothing.
func TestRunningTracksOfInstanceAwaitingRestart(t *testing.T) {
	old := mustParse(t, strings.Replace(planBase, "track: [{check: amqp/a, weight: -60}]", "track: [{check: amqp/a, weight: -60}, {check: amqp/b, weight: -10}]", 1))
	nc := mustParse(t, edit(t, "interface: eth0", "interface: eth1",
		"track: [{check: amqp/a, weight: -60}]", "track: [{check: amqp/b, weight: -10}]",
		"      - {name: a, address: 10.0.0.1:5672, weight: 10}\n", ""))
	p := Diff(old, nc)
	if len(p.Restart) != 1 {
		t.Fatalf("plan %s, want v's interface to a restart", planString(p))
	}
	run := running(old, nc, p, noFailures().leftovers)
	if ms := modelProblems("the running model", run); len(ms) > 0 {
		t.Errorf("%s", strings.Join(ms, "\n"))
	}
	if tr := run.VRRP[0].Track; len(tr) != 1 || tr[0].Backend.Name != "b" || tr[0].Weight != -10 {
		t.Errorf("v runs with the rules %+v, want its old rule of amqp/b alone", tr)
	}
	if again := Diff(run, nc); len(again.Restart) != 1 || len(again.VRRP)+len(again.Listeners)+len(again.Checks) != 0 {
		t.Errorf("the same file again: %s", planString(again))
	}
}
