package daemon

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/vrrp"
)

// A new process whose "takeover-ready" never reaches the running daemon
// (its socket gone, here) gives the take-over up: the running daemon
// committed nothing and serves on as MASTER, so the new process removes
// none of its VIPs and does not serve beside it; the upgrade fails.
func TestTakeoverReadyNotSentGivesUp(t *testing.T) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	started := startSuccessors(t, h, func(s *inProcSuccessor) error {
		return takeOverWith(s, func(tk *Takeover) { tk.socket = s.h.dir + "/no-such-socket" }) // the request cannot be sent
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	upgraded := make(chan error, 1)
	go func() { _, err := h.d.Upgrade(ctx, os.Args[0]); upgraded <- err }()
	s := <-started
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the new process is still running 15 s after its ready could not be sent")
	}
	if s.err == nil || !strings.Contains(s.err.Error(), "was not reached") {
		t.Fatalf("the new process's Run: %v, want the take-over given up", s.err)
	}
	s.h.staleMu.Lock()
	removed := len(s.h.stale)
	s.h.staleMu.Unlock()
	if removed != 0 {
		t.Errorf("the new process removed VIPs %d times under a MASTER that never handed over", removed)
	}
	if st := h.vrrpSnapshot().State; st != vrrp.StateMaster {
		t.Errorf("the running daemon is %v, want MASTER", st)
	}
	select {
	case err := <-upgraded:
		if err == nil {
			t.Error("the upgrade succeeded")
		}
	case <-time.After(15 * time.Second):
		t.Error("the upgrade has not ended 15 s after the new process did")
	}
}
