package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// Started is closed once Run runs the machine: given a transport, at once.
func TestStarted(t *testing.T) {
	h := newInstanceHarness(t, testConfig(), newFakeTransport(local), newFakeOwner())
	select {
	case <-h.inst.Started():
		t.Fatal("Started closed before Run")
	default:
	}
	h.run(t)
	select {
	case <-h.inst.Started():
	case <-time.After(5 * time.Second):
		t.Fatal("Started not closed 5 s after Run began")
	}
}

// TestWaitsForMissingInterface: an instance whose interface does not exist
// runs in FAULT, saying so, rather than failing: Started is closed, Run
// goes on until stopped, and then returns nil.
func TestWaitsForMissingInterface(t *testing.T) {
	inst, err := NewInstance(testConfig(func(c *Config) { c.Interface = "nosuch0" }), Options{Owner: newFakeOwner()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()
	select {
	case <-inst.Started():
	case err := <-done:
		t.Fatalf("Run returned %v on a missing interface, want it to wait", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Started not closed 5 s after Run began")
	}
	s := inst.Snapshot()
	if s.State != StateFault || !strings.Contains(s.Reason, "interface nosuch0 does not exist") || s.LinkUp {
		t.Errorf("while the interface is missing: state %v, reason %q, link up %v; want FAULT naming it", s.State, s.Reason, s.LinkUp)
	}
	// Releases and priorities are applied meanwhile.
	released := inst.StepDown(0, "maintenance")
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("a release was not applied while the interface is missing")
	}
	if s := inst.Snapshot(); !s.Released || s.State != StateFault {
		t.Errorf("after the release: released %v, state %v", s.Released, s.State)
	}
	// So are new unicast settings, which the sockets are opened with
	// once the interface is ready.
	peer := netip.MustParseAddr("192.0.2.9")
	if err := inst.Update(testConfig(func(c *Config) { c.Interface = "nosuch0"; c.UnicastPeers = []netip.Addr{peer} })); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !slices.Equal(inst.Snapshot().AllowedPeers, []netip.Addr{peer}); time.Sleep(time.Millisecond) { // polling Run's goroutine
		if time.Now().After(deadline) {
			t.Fatalf("unicast peers %v 5 s after the update, want %v", inst.Snapshot().AllowedPeers, peer)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v, want nil once stopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run has not returned 5 s after it was stopped")
	}
	if s := inst.Snapshot(); s.State != StateInit {
		t.Errorf("after Run: state %v, want INIT", s.State)
	}
}

// TestNotReadyErrors: NewIPv4Transport marks the errors of an interface
// that is not ready, with a reason in a few words, and no other.
func TestNotReadyErrors(t *testing.T) {
	_, err := NewIPv4Transport(TransportConfig{Interface: "nosuch0"})
	if !errors.Is(err, ErrInterfaceNotReady) || notReadyReason(err) != "interface nosuch0 does not exist" {
		t.Errorf("missing interface: %v (reason %q), want ErrInterfaceNotReady", err, notReadyReason(err))
	}
	if err := goneIfNoDevice("eth9", errors.New("operation not permitted")); errors.Is(err, ErrInterfaceNotReady) {
		t.Errorf("another error marked not ready: %v", err)
	}
}

// TestWaitingForAnyError: an attempt of the wait that fails for another
// reason than a missing interface (out of file descriptors) still keeps
// the instance waiting in FAULT, with that error as its reason: it has no
// sockets to leave FAULT with.
func TestWaitingForAnyError(t *testing.T) {
	inst, err := NewInstance(testConfig(func(c *Config) { c.Interface = "eth7" }), Options{Owner: newFakeOwner()})
	if err != nil {
		t.Fatal(err)
	}
	inst.waitingFor(errors.New("opening VRRP raw socket on eth7: too many open files"))
	if inst.notReady == "" || !strings.Contains(inst.notReady, "too many open files") || !strings.Contains(inst.notReady, "eth7") {
		t.Errorf("reason %q, want the error, naming the interface", inst.notReady)
	}
	inst.waitingFor(fmt.Errorf("opening: %w", notReady{"interface eth7 does not exist", errors.New("no such network interface")}))
	if inst.notReady != "interface eth7 does not exist" {
		t.Errorf("reason %q, want the few words of a not-ready error", inst.notReady)
	}
}
