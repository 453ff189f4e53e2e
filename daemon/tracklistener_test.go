package daemon

import (
	"errors"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// TestReloadListenerTrackOfUpdatedInstance: a listener track rule watches
// the listener's checked backends as the file now has them, also when the
// same reload changes another setting of the instance (its priority): a
// backend the reload removes no longer counts as serving, so the rule
// fails once the remaining backend is down.
func TestReloadListenerTrackOfUpdatedInstance(t *testing.T) {
	l := newLab(t)
	const byCheck, byListener = "track: [{check: amqp/a, weight: -60}]", "track: [{listener: amqp, weight: -60}]"
	h := newHarness(t, l.file(byCheck, byListener))
	startChecked(t, h)
	r := h.reload(l.file(byCheck, byListener, "priority: 150", "priority: 120",
		"      - {name: b, address: "+l.b.addr()+", weight: 10}\n", ""))
	if !r.OK() {
		t.Fatalf("reload: %+v", r)
	}
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{Err: errors.New("frozen")})
	h.eventually("a DOWN", func() bool { return h.backendState(idA) == backend.Down })
	h.eventually("track -60 (no backend of amqp serves)", func() bool { return h.vrrpSnapshot().PriorityAdjust == -60 })
}
