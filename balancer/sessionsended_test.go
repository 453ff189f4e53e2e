package balancer

import (
	"context"
	"io"
	"maps"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestSessionsEndedByReason: each established session that ends is
// counted for its backend under why it ended, in the Snapshot and in
// rmqlb_backend_sessions_ended_total, whose series for the reasons none
// ended for are there at 0; a client whose connect failed reached no
// backend and is in no count.
func TestSessionsEndedByReason(t *testing.T) {
	// The broker closes, resets or waits for the client, as the first
	// byte it gets says.
	srv := newServer(t, "127.0.0.1", func(c net.Conn) {
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		c.Write(b)
		switch b[0] {
		case 'f':
			c.Close()
		case 'r':
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		default:
			io.Copy(io.Discard, c)
		}
	})
	dead := unusedAddr(t, "127.0.0.1")
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: srv.addr, Weight: 1}, {Name: "dead", Address: dead, Weight: 1}})
	cfg.Retries = 0
	reg := prometheus.NewPedanticRegistry()
	l := startRegistered(t, cfg, reg, 1)
	if err := l.SetBackendState("dead", rbackend.Drain, "test"); err != nil {
		t.Fatal(err)
	}
	session := func(first byte) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := roundTrip(c, []byte{first}); err != nil {
			t.Fatalf("session %q: %v", first, err)
		}
		return c
	}
	// Two sessions the client closes, one the broker closes, one it
	// resets, and one moved off the backend.
	session('c').Close()
	session('c').Close()
	f := session('f')
	if err := waitClosed(f, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	f.Close() // the client's end of an orderly close
	if err := waitClosed(session('r'), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	moved := session('m')
	// A client that reaches no backend: the only other one is dead.
	if err := l.SetBackendState("dead", rbackend.Up, "test"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetBackendState("a", rbackend.Drain, "test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.MoveSessions(context.Background(), "a", 1); err != nil {
		t.Fatal(err)
	}
	if err := waitClosed(moved, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := waitClosed(c, 5*time.Second); err != nil {
		t.Fatalf("client with only a dead backend to go to: %v", err)
	}

	want := map[string]uint64{"client_closed": 2, "broker_closed": 1, "broker_reset": 1, "moved": 1}
	var s Snapshot
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s = l.Snapshot()
		if maps.Equal(backendSnap(s, "a").Ended, want) && s.NoBackend == 1 && s.Active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend a: sessions ended %v, %d active, %d failed (no backend); want %v, 0 active, 1 failed",
				backendSnap(s, "a").Ended, s.Active, s.NoBackend, want)
		}
	}
	if e := backendSnap(l.Snapshot(), "dead").Ended; e != nil {
		t.Errorf("backend dead: sessions ended %v, want none (no session reached it)", e)
	}
	mfs := metricstest.Gather(t, reg)
	metricstest.RequireClean(t, reg)
	for _, r := range establishedEnds {
		for _, b := range []string{"a", "dead"} {
			labels := map[string]string{"listener": "test", "backend": b, "reason": r.String()}
			w := float64(0)
			if b == "a" {
				w = float64(want[r.String()])
			}
			if v := metricstest.Value(t, mfs, "rmqlb_backend_sessions_ended_total", labels); v != w {
				t.Errorf("rmqlb_backend_sessions_ended_total%v = %v, want %v", labels, v, w)
			}
		}
	}
	if n := len(mfs["rmqlb_backend_sessions_ended_total"].GetMetric()); n != 2*len(establishedEnds) {
		t.Errorf("%d series of rmqlb_backend_sessions_ended_total, want %d (each reason for each backend)", n, 2*len(establishedEnds))
	}
}
