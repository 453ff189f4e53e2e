package balancer

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A backend connection the host cannot make for want of a local port or
// socket memory refuses the client at once, counted apart: the backend is
// not blamed (no connect failure, no retry on the others, which would
// fail the same way), so the connect-failure alert does not point at the
// brokers.
func TestLocalDialErrorNotBlamedOnBackend(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EADDRNOTAVAIL, unix.ENOBUFS, unix.ENOMEM} {
		t.Run(errno.Error(), func(t *testing.T) {
			a, b := newServer(t, "127.0.0.1", echo), newServer(t, "127.0.0.1", echo)
			dials := 0
			r := startListener(t, baseConfig(backendsOf(a, b)), 1, func(l *Listener) {
				l.dial = func(addr netip.AddrPort) (int, error) {
					dials++ // on the loop's goroutine only
					return -1, fmt.Errorf("connecting to %s: %w", addr, errno)
				}
			})
			c := r.dial(t)
			defer c.Close()
			if err := waitClosed(c, 5*time.Second); err != nil {
				t.Fatalf("client: %v", err)
			}
			var s Snapshot
			eventually(t, 5*time.Second, "the refusal counted", func() bool {
				s = r.Snapshot()
				return s.RefusedLocal == 1
			})
			if s.NoBackend != 0 || s.RefusedFdLimit != 0 {
				t.Errorf("counted as no backend %d, fd limit %d", s.NoBackend, s.RefusedFdLimit)
			}
			for _, be := range s.Backends {
				if be.ConnectFailures != 0 {
					t.Errorf("backend %s: %d connect failures, want 0", be.Name, be.ConnectFailures)
				}
			}
			r.stop(t)
			if dials != 1 {
				t.Errorf("%d dials, want 1 (no retry on another backend)", dials)
			}
		})
	}
}
