package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// startEcho runs Echo on a loopback port for the test's lifetime.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Echo(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Echo: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestRR(t *testing.T) {
	addr := startEcho(t)
	res, err := RR(context.Background(), RRConfig{Target: addr, Conns: 4, Size: 128, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != 0 || res.P50us <= 0 || res.P99us < res.P50us {
		t.Fatalf("RR = %+v", res)
	}
}

func TestConnRate(t *testing.T) {
	addr := startEcho(t)
	res, err := ConnRate(context.Background(), ConnRateConfig{Target: addr, Workers: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conns == 0 || res.Errors != 0 {
		t.Fatalf("ConnRate = %+v", res)
	}
}

// TestConnRateReset: with Reset the server sees each connection end with
// a reset, without it with an orderly EOF.
func TestConnRateReset(t *testing.T) {
	for _, reset := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ends := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				ends <- err
				return
			}
			defer c.Close()
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err != nil {
				ends <- err
				return
			}
			c.Write(b)
			_, err = c.Read(b)
			ends <- err
		}()
		// One worker, one cycle: the run ends while the second dial waits
		// for an accept that never comes (not counted as an error).
		res, err := ConnRate(context.Background(), ConnRateConfig{Target: ln.Addr().String(), Workers: 1,
			Duration: 300 * time.Millisecond, Timeout: 200 * time.Millisecond, Reset: reset})
		ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.Conns < 1 {
			t.Fatalf("reset %v: ConnRate = %+v", reset, res)
		}
		end := <-ends
		if reset && !errors.Is(end, syscall.ECONNRESET) {
			t.Errorf("with Reset the server's read ended with %v, want ECONNRESET", end)
		}
		if !reset && end != io.EOF {
			t.Errorf("without Reset the server's read ended with %v, want EOF", end)
		}
	}
}

func TestConnRateCountsFailures(t *testing.T) {
	// A listener that is closed at once: every dial is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res, err := ConnRate(context.Background(), ConnRateConfig{Target: addr, Workers: 1, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conns != 0 || res.Errors == 0 || len(res.ErrorKinds) == 0 {
		t.Fatalf("ConnRate against a closed port = %+v", res)
	}
}

func TestOpenIdle(t *testing.T) {
	addr := startEcho(t)
	idle, res, err := OpenIdle(context.Background(), IdleConfig{Target: addr, Conns: 50, Parallel: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if res.Open != 50 || res.Errors != 0 || len(idle.conns) != 50 {
		t.Fatalf("OpenIdle = %+v", res)
	}
}

func TestPercentile(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {99, 10}, {10, 1}, {100, 10}} {
		if got := percentile(s, tt.p); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}
