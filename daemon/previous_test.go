package daemon

import (
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/control"
)

// TestPreviousForgottenOnceGone: status shows the process taken over from
// while it runs, and forgets it once it has exited.
func TestPreviousForgottenOnceGone(t *testing.T) {
	gone := false
	shown := control.PreviousProcess{PID: 42, Sessions: 7, Until: time.Unix(100, 0), CloseSpread: time.Second}
	d := &Daemon{previous: &previousProcess{shown: shown, gone: func() bool { return gone }}}
	if p := d.previousLocked(); p == nil || *p != shown {
		t.Fatalf("while it runs: %+v, want %+v", p, shown)
	}
	gone = true
	if p := d.previousLocked(); p != nil {
		t.Fatalf("once it has exited: %+v, want nil", p)
	}
	gone = false // a pid used again later is not taken for it
	if p := d.previousLocked(); p != nil {
		t.Fatalf("after it was forgotten: %+v, want nil", p)
	}
}
