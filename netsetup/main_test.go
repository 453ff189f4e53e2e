package netsetup

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: every
// goroutine of the package has an owner and an exit path.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
