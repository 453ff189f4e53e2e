package vrrp

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// goroutine of an Instance, a transport or WatchLink has an exit path.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
