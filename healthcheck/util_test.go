package healthcheck

import (
	"net"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/clock"
)

func listen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln
}

// bid names backend name of a listener "l".
func bid(name string) backend.ID { return backend.ID{Listener: "l", Name: name} }

// ownArm reports whether a is an arming of the scheduler's own timer (its
// next check or slow-start step), not the deadline of a check's context
// (clock.Arm.Context), which every check arms on the same clock.
func ownArm(a clock.Arm) bool { return !a.Context }

// nextWake returns the deadline of the next arming of the scheduler's own
// timer, passing over the deadlines of the checks.
func nextWake(t *testing.T, clk *clock.Fake) time.Time {
	t.Helper()
	return clk.NextArmWhere(t, ownArm).At
}

// waitWake waits until the scheduler's own timer is armed for at: the
// loop went back to waiting for at. A check's deadline at the same instant
// does not count.
func waitWake(t *testing.T, clk *clock.Fake, at time.Time) {
	t.Helper()
	clk.WaitArmedWhere(t, func(a clock.Arm) bool { return ownArm(a) && a.At.Equal(at) })
}
