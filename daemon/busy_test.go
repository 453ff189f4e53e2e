package daemon

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// TestBusyBackendStaysInService: a check that times out while the backend
// keeps sending to its clients (a broker answering a reconnect storm)
// leaves it in service with its sessions, where a backend that sends
// nothing goes DOWN on the same timeout; a failure that is not a timeout
// takes the busy backend DOWN and shuts its sessions down.
func TestBusyBackendStaysInService(t *testing.T) {
	l := newLab(t)
	// The check's timeout is what the scheduler asks about (its second
	// half): long enough that the session's bytes below are within it
	// on a slow machine.
	h := newHarness(t, l.file("timeout: 500ms", "timeout: 10s"))
	startChecked(t, h)
	c := openSession(t, l) // round robin: on a; b has none
	timedOut := healthcheck.Result{Err: fmt.Errorf("waiting for Connection.Start: %w", context.DeadlineExceeded)}

	h.nextChecks()
	if err := roundTrip(c, []byte("busy")); err != nil {
		t.Fatal(err)
	}
	h.checks.get(idA).answer(t, timedOut)
	h.checks.get(idB).answer(t, timedOut)
	h.eventually("b DOWN", func() bool { return h.backendState(idB) == backend.Down })
	if st := h.backendState(idA); st != backend.Up {
		t.Fatalf("a, timed out while sending to its client, is %v", st)
	}
	if err := roundTrip(c, []byte("still served")); err != nil {
		t.Fatalf("a's session after a busy timeout: %v", err)
	}
	for _, ck := range h.d.Status().Checks {
		if ck.Backend == idA && (ck.BusyChecks != 1 || ck.BusySince.IsZero() || ck.Failures != 0) {
			t.Errorf("status of a: %d busy checks since %v, %d failures; want 1, a time, 0", ck.BusyChecks, ck.BusySince, ck.Failures)
		}
	}

	h.nextChecks()
	if err := roundTrip(c, []byte("busy")); err != nil {
		t.Fatal(err)
	}
	h.checks.get(idA).answer(t, healthcheck.Result{Err: errors.New("connecting: connection refused")})
	h.checks.get(idB).answer(t, timedOut)
	h.eventually("a DOWN", func() bool { return h.backendState(idA) == backend.Down })
	if !closedByPeer(c) {
		t.Error("the session of a DOWN backend was not shut down")
	}
}
