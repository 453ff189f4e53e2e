package daemon

import (
	"errors"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// TestBackendStateChangeLoggedOnce: a change of a backend's state, by its
// checks or by the operator, is one info line "backend state changed"
// naming the listener and the backend, not one from the checks and another
// from the balancer.
func TestBackendStateChangeLoggedOnce(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := newLab(t)
	h := newHarness(t, l.file(), func(o *Options) { o.Logger = zap.New(zapcore.NewTee(o.Logger.Core(), core)) })
	startChecked(t, h)
	changes := func(to backend.State) int {
		n := 0
		for _, e := range logs.FilterMessage("backend state changed").All() {
			m := e.ContextMap()
			if e.Level == zap.InfoLevel && m["to"] == to.String() {
				if m["listener"] != "amqp" || m["backend"] != "a" {
					t.Errorf("state change logged without the listener and backend apart: %v", m)
				}
				n++
			}
		}
		return n
	}
	h.nextChecks()
	h.checks.get(idA).answer(t, healthcheck.Result{Err: errors.New("frozen")})
	h.checks.get(idB).answer(t, healthcheck.Result{})
	// The listener logs a change just after it applied it; the checks,
	// had they logged it too, would have done so before.
	h.eventually("a DOWN logged", func() bool { return changes(backend.Down) > 0 })
	if n := changes(backend.Down); n != 1 {
		t.Errorf("a's check failure logged %d times as a state change, want once", n)
	}
	if _, err := h.d.SetAdmin("amqp/a", "maint"); err != nil {
		t.Fatal(err)
	}
	h.eventually("a MAINT logged", func() bool { return changes(backend.Maint) > 0 })
	if n := changes(backend.Maint); n != 1 {
		t.Errorf("the operator's maint logged %d times as a state change, want once", n)
	}
}
