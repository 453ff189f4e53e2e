package daemon

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsLimits: a client that connects and sends nothing is closed
// after the read timeout, and connections past the limit wait instead of
// being served at once.
func TestMetricsLimits(t *testing.T) {
	addr := netip.MustParseAddrPort(freePort(t, "127.0.0.1"))
	lim := metricsLimits{maxConns: 2, readTimeout: 200 * time.Millisecond, writeTimeout: time.Second, idle: time.Second}
	ms, err := listenMetrics(addr, prometheus.NewRegistry(), lim)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ms.Serve() }()
	defer func() {
		ms.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	silent, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a silent client was not closed: %v", err)
	}
	t.Logf("silent client closed after %v (read timeout %v)", time.Since(start).Round(time.Millisecond), lim.readTimeout)

	// Two silent clients hold both slots; a scrape waits until the read
	// timeout frees one.
	a, _ := net.Dial("tcp", addr.String())
	b, _ := net.Dial("tcp", addr.String())
	defer a.Close()
	defer b.Close()
	time.Sleep(20 * time.Millisecond) // both accepted
	start = time.Now()
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if waited := time.Since(start); waited < lim.readTimeout/2 {
		t.Fatalf("a scrape past the connection limit was served after %v, before a slot was free", waited)
	}
}
