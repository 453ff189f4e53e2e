package balancer

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A backend connection the host cannot make for want of socket memory
// refuses the client at once, counted apart: the backend is not blamed
// (no connect failure, no retry on the others, which would fail the same
// way), so the connect-failure alert does not point at the brokers.
func TestLocalDialErrorNotBlamedOnBackend(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ENOBUFS, unix.ENOMEM} {
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

// No local port for one backend's address (EADDRNOTAVAIL: ephemeral ports
// are per destination) is not that backend's failure, and the next
// backend is tried: the client is served by the other. When no backend's
// address has a port left, the client is refused as the host's shortage.
func TestNoLocalPortTriesNextBackend(t *testing.T) {
	a, b := newServer(t, "127.0.0.1", echo), newServer(t, "127.0.0.1", echo)
	full := map[netip.AddrPort]bool{}
	var fullA, fullAll atomic.Bool
	aAddr := a.addr
	r := startListener(t, baseConfig(backendsOf(a, b)), 1, func(l *Listener) {
		l.dial = func(addr netip.AddrPort) (int, error) {
			if fullAll.Load() || fullA.Load() && addr == aAddr {
				full[addr] = true // on the loop's goroutine only
				return -1, fmt.Errorf("connecting to %s: %w", addr, unix.EADDRNOTAVAIL)
			}
			return dialSocket(addr)
		}
	})
	fullA.Store(true)
	for range 4 { // round robin: a's turn comes
		c := r.dial(t)
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatalf("a client while a's address has no local port: %v", err)
		}
		c.Close()
	}
	s := r.Snapshot()
	if s.RefusedLocal != 0 || s.NoBackend != 0 || backendSnap(s, "a").ConnectFailures != 0 {
		t.Fatalf("refused (local) %d, no backend %d, a's connect failures %d: want 0, 0, 0", s.RefusedLocal, s.NoBackend, backendSnap(s, "a").ConnectFailures)
	}
	r.broadcast(r.loops, func(*loop) {
		if !full[aAddr] { // read on the loop's goroutine, as written
			t.Error("a's address was never dialled: the test proves nothing")
		}
	})
	fullAll.Store(true)
	c := r.dial(t)
	defer c.Close()
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatalf("client with no local port for any backend: %v", err)
	}
	eventually(t, 5*time.Second, "the refusal counted as local", func() bool { return r.Snapshot().RefusedLocal == 1 })
	s = r.Snapshot()
	if s.NoBackend != 0 || backendSnap(s, "a").ConnectFailures != 0 || backendSnap(s, "b").ConnectFailures != 0 {
		t.Fatalf("no backend %d, connect failures a %d b %d: want 0", s.NoBackend, backendSnap(s, "a").ConnectFailures, backendSnap(s, "b").ConnectFailures)
	}
	// The attempts gave back their active counts (the earlier clients'
	// sessions end as the proxy sees their close).
	eventually(t, 5*time.Second, "no backend active", func() bool {
		for _, be := range r.Snapshot().Backends {
			if be.Active != 0 {
				return false
			}
		}
		return true
	})
}

// A client whose own socket epoll refuses (ENOMEM: no kernel memory;
// ENOSPC: fs.epoll.max_user_watches) is the host's shortage too: refused,
// counted as refused_local, no backend dialled, and the next client served.
func TestNoRoomInEpollRefusedAsLocal(t *testing.T) {
	for _, errno := range []unix.Errno{unix.ENOMEM, unix.ENOSPC} {
		t.Run(errno.Error(), func(t *testing.T) {
			srv := newServer(t, "127.0.0.1", echo)
			dials := 0
			r := startListener(t, baseConfig(backendsOf(srv)), 1, func(l *Listener) {
				l.dial = func(addr netip.AddrPort) (int, error) {
					dials++ // on the loop's goroutine only
					return dialSocket(addr)
				}
			})
			r.mu.Lock()
			lp := r.loops[0]
			r.mu.Unlock()
			var refusals atomic.Int32
			r.broadcast([]*loop{lp}, func(lp *loop) {
				lnfd := lp.lnfd
				lp.ctlFault = func(op, fd int) error {
					if op == unix.EPOLL_CTL_ADD && fd != lnfd && refusals.Add(1) == 1 {
						return errno // the next socket registered: the client's
					}
					return nil
				}
			})
			c := r.dial(t)
			defer c.Close()
			if err := waitClosed(c, 5*time.Second); err != nil {
				t.Fatalf("client epoll refused: %v", err)
			}
			var s Snapshot
			// The counters are read one by one: a snapshot taken as the
			// client is refused may show it still active.
			eventually(t, 5*time.Second, "the refusal counted as local, no session active", func() bool {
				s = r.Snapshot()
				return s.RefusedLocal == 1 && s.Active == 0
			})
			if s.Total != 0 || s.NoBackend != 0 || s.RefusedFdLimit != 0 {
				t.Errorf("total %d, no backend %d, fd limit %d: want 0", s.Total, s.NoBackend, s.RefusedFdLimit)
			}
			c2 := r.dial(t)
			defer c2.Close()
			if _, err := roundTrip(c2, []byte("AMQP")); err != nil {
				t.Fatalf("the next client: %v", err)
			}
			r.broadcast([]*loop{lp}, func(*loop) {
				if dials != 1 {
					t.Errorf("%d dials, want 1 (the next client's only)", dials)
				}
			})
		})
	}
}
