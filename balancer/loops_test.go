package balancer

import (
	"runtime"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConfigLoops: Run starts Config.Loops event loops, GOMAXPROCS of them
// when it is 0, and a negative count is refused.
func TestConfigLoops(t *testing.T) {
	for _, c := range []struct{ loops, want int }{{0, runtime.GOMAXPROCS(0)}, {1, 1}, {3, 3}} {
		cfg := baseConfig([]BackendConfig{{Name: "a", Address: unusedAddr(t, "127.0.0.1"), Weight: 1}})
		cfg.Loops = c.loops
		r := startListener(t, cfg, 0)
		r.mu.Lock()
		got := len(r.loops)
		r.mu.Unlock()
		if got != c.want {
			t.Errorf("Loops %d: %d event loops, want %d", c.loops, got, c.want)
		}
		r.stop(t)
	}
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: unusedAddr(t, "127.0.0.1"), Weight: 1}})
	cfg.Loops = -1
	if err := cfg.Validate(); err == nil {
		t.Error("Loops -1 accepted")
	}
}

// TestAcceptResumesAfterFailedReregistration: when epoll refuses the
// listening socket at the end of an accept pause (ENOSPC at
// fs.epoll.max_user_watches, ENOMEM), the loop tries again after another
// pause instead of never accepting again.
func TestAcceptResumesAfterFailedReregistration(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	r.mu.Lock()
	lp := r.loops[0]
	r.mu.Unlock()
	var failures atomic.Int32
	r.broadcast([]*loop{lp}, func(lp *loop) {
		lnfd := lp.lnfd
		lp.ctlFault = func(op, fd int) error {
			if op == unix.EPOLL_CTL_ADD && fd == lnfd && failures.Add(1) <= 2 {
				return unix.ENOSPC
			}
			return nil
		}
		lp.pauseAccepting() // as after EMFILE
	})
	c := r.dial(t) // queued in the backlog while the loop does not accept
	if _, err := roundTrip(c, []byte("AMQP")); err != nil {
		t.Fatalf("after %d failed attempts to resume accepting: %v", failures.Load(), err)
	}
	if n := failures.Load(); n < 3 {
		t.Errorf("%d attempts to watch the listening socket again, want the 2 that failed and one more", n)
	}
}
