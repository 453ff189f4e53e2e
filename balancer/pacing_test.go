package balancer

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// gatedServer is a backend that, like RabbitMQ, speaks only once it has
// taken a connection in: each accepted connection waits for a token on
// greet, then sends "S" and echoes. pending counts connections accepted
// and not yet greeted; maxPending is the most seen at once.
type gatedServer struct {
	*testServer
	greet      chan struct{}
	pending    atomic.Int64
	maxPending atomic.Int64
}

func newGatedServer(t *testing.T) *gatedServer {
	g := &gatedServer{greet: make(chan struct{})}
	g.testServer = newServer(t, "127.0.0.1", func(c net.Conn) {
		n := g.pending.Add(1)
		for {
			m := g.maxPending.Load()
			if n <= m || g.maxPending.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-g.greet:
		case <-time.After(30 * time.Second):
			return
		}
		// Counted down before the greeting, so that the next connect,
		// which the greeting lets through, finds the count right.
		g.pending.Add(-1)
		if _, err := c.Write([]byte("S")); err != nil {
			return
		}
		echo(c)
	})
	return g
}

// greetClient reads, through c, the backend's greeting and the echo of
// the "C" the client sent first.
func greetClient(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, 2)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != "SC" {
		return fmt.Errorf("read %q, want the greeting and the echo, SC", b)
	}
	return nil
}

// TestMaxConnectingPaces connects more clients at once than the limit
// allows: the backend never has more connections waiting for its greeting
// than the loops' slots, the others wait in the queue (Snapshot.Queued)
// and each greeting lets exactly one more through, until every client is
// served.
func TestMaxConnectingPaces(t *testing.T) {
	tests := []struct {
		name                     string
		loops, max, clients, per int // per: slots of each loop
	}{
		{"one loop", 1, 2, 6, 2},
		{"one loop, limit 1", 1, 1, 4, 1},
		{"two loops share the limit", 2, 3, 8, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGatedServer(t)
			cfg := baseConfig(backendsOf(g.testServer))
			cfg.MaxConnecting = tt.max
			r := startListener(t, cfg, tt.loops)
			clients := make([]net.Conn, tt.clients)
			for i := range clients {
				clients[i] = r.dial(t)
				if _, err := clients[i].Write([]byte("C")); err != nil { // AMQP clients speak first
					t.Fatal(err)
				}
			}
			slots := int64(tt.loops * tt.per)
			if slots > int64(tt.clients) {
				slots = int64(tt.clients)
			}
			// With one loop every slot fills; with more, the clients may
			// have gone to one loop only: at least per connect.
			minIn := int64(tt.per)
			if tt.loops == 1 {
				minIn = slots
			}
			eventually(t, 5*time.Second, "the first connects and the queue", func() bool {
				in := g.accepts.Load()
				return in >= minIn && in <= slots && int64(tt.clients)-in == r.Snapshot().Queued
			})
			for greeted := 0; greeted < tt.clients; greeted++ {
				if p := g.pending.Load(); p > slots {
					t.Fatalf("after %d greetings: %d connections wait for the backend's greeting, want at most %d", greeted, p, slots)
				}
				g.greet <- struct{}{}
			}
			for i, c := range clients {
				if err := greetClient(c); err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				if got, err := roundTrip(c, []byte("hello")); err != nil || string(got) != "hello" {
					t.Fatalf("client %d: echo %q, %v", i, got, err)
				}
			}
			if m := g.maxPending.Load(); m > slots {
				t.Errorf("backend had %d connections waiting for its greeting at once, want at most %d", m, slots)
			}
			s := r.Snapshot()
			if s.Queued != 0 || s.QueueTimeouts != 0 {
				t.Errorf("queued %d, queue timeouts %d after all were served, want 0 and 0", s.Queued, s.QueueTimeouts)
			}
			if got := g.accepts.Load(); got != int64(tt.clients) {
				t.Errorf("backend accepted %d connections, want %d", got, tt.clients)
			}
		})
	}
}

// TestMaxConnectingOffConnectsAll is the zero value: every client is
// connected at once, none waits.
func TestMaxConnectingOffConnectsAll(t *testing.T) {
	g := newGatedServer(t)
	r := startListener(t, baseConfig(backendsOf(g.testServer)), 1)
	for range 5 {
		r.dial(t).Write([]byte("C"))
	}
	eventually(t, 5*time.Second, "5 connects", func() bool { return g.accepts.Load() == 5 })
	if q := r.Snapshot().Queued; q != 0 {
		t.Errorf("queued %d without pacing", q)
	}
	close(g.greet)
}

// TestMaxConnectingNextBackend: a client that finds one backend busy goes
// to another that has a slot free; it waits only when all are busy.
func TestMaxConnectingNextBackend(t *testing.T) {
	a, b := newGatedServer(t), newGatedServer(t)
	cfg := baseConfig(backendsOf(a.testServer, b.testServer))
	cfg.MaxConnecting = 1
	r := startListener(t, cfg, 1)
	for range 3 {
		r.dial(t).Write([]byte("C"))
	}
	eventually(t, 5*time.Second, "one connect to each backend and one client queued", func() bool {
		return a.accepts.Load() == 1 && b.accepts.Load() == 1 && r.Snapshot().Queued == 1
	})
	close(a.greet)
	close(b.greet)
	eventually(t, 5*time.Second, "the queued client's connect", func() bool {
		return a.accepts.Load()+b.accepts.Load() == 3 && r.Snapshot().Queued == 0
	})
}

// TestMaxConnectingPersistenceWaits: a client pinned to a busy backend
// waits for it instead of being moved to another.
func TestMaxConnectingPersistenceWaits(t *testing.T) {
	a, b := newGatedServer(t), newGatedServer(t)
	cfg := baseConfig(backendsOf(a.testServer, b.testServer))
	cfg.MaxConnecting = 1
	cfg.PersistenceTimeout = time.Minute
	r := startListener(t, cfg, 1)
	first := r.dial(t)
	first.Write([]byte("C"))
	eventually(t, 5*time.Second, "the first connect", func() bool { return a.accepts.Load()+b.accepts.Load() == 1 })
	pinned, other := a, b
	if b.accepts.Load() == 1 {
		pinned, other = b, a
	}
	second := r.dial(t)
	second.Write([]byte("C"))
	eventually(t, 5*time.Second, "the second client queued", func() bool { return r.Snapshot().Queued == 1 })
	close(pinned.greet)
	for _, c := range []net.Conn{first, second} {
		if err := greetClient(c); err != nil {
			t.Fatal(err)
		}
	}
	if n := other.accepts.Load(); n != 0 {
		t.Errorf("the other backend got %d connections, want 0 (the clients are pinned)", n)
	}
	if n := pinned.accepts.Load(); n != 2 {
		t.Errorf("the pinned backend got %d connections, want 2", n)
	}
	close(other.greet)
}

// TestMaxConnectingQueueTimeout: a client that gets no slot within
// QueueTimeout is closed and counted, and never reaches the backend.
func TestMaxConnectingQueueTimeout(t *testing.T) {
	g := newGatedServer(t)
	defer close(g.greet)
	cfg := baseConfig(backendsOf(g.testServer))
	cfg.MaxConnecting = 1
	cfg.QueueTimeout = 100 * time.Millisecond
	cfg.LogSessions = true
	r := startListener(t, cfg, 1)
	r.dial(t).Write([]byte("C"))
	eventually(t, 5*time.Second, "the first connect", func() bool { return g.accepts.Load() == 1 })
	late := r.dial(t)
	late.Write([]byte("C"))
	start := time.Now()
	if err := waitClosed(late, 5*time.Second); err != nil {
		t.Fatalf("queued client: %v", err)
	}
	t.Logf("queued client closed after %v (queue timeout 100ms)", time.Since(start).Round(time.Millisecond))
	s := r.Snapshot()
	if s.QueueTimeouts != 1 || s.Queued != 0 {
		t.Errorf("queue timeouts %d, queued %d; want 1 and 0", s.QueueTimeouts, s.Queued)
	}
	if n := g.accepts.Load(); n != 1 {
		t.Errorf("backend accepted %d connections, want 1", n)
	}
}

// TestMaxConnectingClientGivesUp: a queued client that closes its
// connection leaves the queue at once; its place goes to nobody.
func TestMaxConnectingClientGivesUp(t *testing.T) {
	g := newGatedServer(t)
	cfg := baseConfig(backendsOf(g.testServer))
	cfg.MaxConnecting = 1
	r := startListener(t, cfg, 1)
	first := r.dial(t)
	first.Write([]byte("C"))
	eventually(t, 5*time.Second, "the first connect", func() bool { return g.accepts.Load() == 1 })
	quitter := r.dial(t)
	eventually(t, 5*time.Second, "the second client queued", func() bool { return r.Snapshot().Queued == 1 })
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(r.Listener))
	if v := metricstest.Value(t, metricstest.Gather(t, reg), "rmqlb_listener_queued_connections", map[string]string{"listener": "test"}); v != 1 {
		t.Errorf("rmqlb_listener_queued_connections = %v, want 1", v)
	}
	quitter.Close()
	eventually(t, 5*time.Second, "the queue to empty", func() bool {
		s := r.Snapshot()
		return s.Queued == 0 && s.Active == 1
	})
	close(g.greet)
	if err := greetClient(first); err != nil {
		t.Fatal(err)
	}
	if n := g.accepts.Load(); n != 1 {
		t.Errorf("backend accepted %d connections, want 1 (the client that left never reaches it)", n)
	}
}

// TestMaxConnectingSlotFreedBySilentClose: a backend that closes without
// a byte frees its slot too, and a failed connect frees it for the retry:
// no client is left queued.
func TestMaxConnectingSlotFreedBySilentClose(t *testing.T) {
	closer := newServer(t, "127.0.0.1", func(c net.Conn) {})
	cfg := baseConfig([]BackendConfig{
		{Name: "gone", Address: unusedAddr(t, "127.0.0.1"), Weight: 1},
		{Name: "closer", Address: closer.addr, Weight: 1},
	})
	cfg.MaxConnecting = 1
	r := startListener(t, cfg, 1)
	var wg sync.WaitGroup
	for range 6 {
		c := r.dial(t)
		c.Write([]byte("C"))
		wg.Go(func() {
			if err := waitClosed(c, 5*time.Second); err != nil {
				t.Errorf("client: %v", err)
			}
		})
	}
	wg.Wait()
	s := r.Snapshot()
	if s.Queued != 0 || s.QueueTimeouts != 0 {
		t.Errorf("queued %d, queue timeouts %d; want 0 and 0", s.Queued, s.QueueTimeouts)
	}
	if n := closer.accepts.Load(); n != 6 {
		t.Errorf("backend accepted %d connections, want 6", n)
	}
}
