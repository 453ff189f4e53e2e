package vrrp

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Opened is closed once Run has its transport, and never when Run cannot
// open one: a caller that waits for it tells a running instance from one
// that failed at once.
func TestOpened(t *testing.T) {
	t.Run("given a transport", func(t *testing.T) {
		h := newInstanceHarness(t, testConfig(), newFakeTransport(local), newFakeOwner())
		select {
		case <-h.inst.Opened():
			t.Fatal("Opened closed before Run")
		default:
		}
		h.run(t)
		select {
		case <-h.inst.Opened():
		case <-time.After(5 * time.Second):
			t.Fatal("Opened not closed 5 s after Run began")
		}
	})
	t.Run("no such interface", func(t *testing.T) {
		inst, err := NewInstance(testConfig(func(c *Config) { c.Interface = "nosuch0" }), Options{Owner: newFakeOwner()})
		if err != nil {
			t.Fatal(err)
		}
		err = inst.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "nosuch0") && !strings.Contains(err.Error(), "no such network interface") {
			t.Fatalf("Run: %v, want the interface's error", err)
		}
		select {
		case <-inst.Opened():
			t.Fatal("Opened closed although Run could not open its transport")
		default:
		}
	})
}
