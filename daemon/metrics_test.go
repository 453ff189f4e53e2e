package daemon

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rmqlb/rmqlb/internal/freeport"
)

// TestMetricsLimits: a client that connects and sends nothing is closed
// after the read timeout, and connections past the limit wait instead of
// being served at once.
func TestMetricsLimits(t *testing.T) {
	lim := metricsLimits{maxConns: 2, readTimeout: 200 * time.Millisecond, writeTimeout: time.Second, idle: time.Second}
	addr := serveMetrics(t, lim)

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

// serveMetrics serves an empty registry's metrics endpoint with lim on
// loopback until the test ends, and returns its address.
func serveMetrics(t *testing.T, lim metricsLimits) netip.AddrPort {
	t.Helper()
	addr := netip.MustParseAddrPort(freeport.Addr(t, "127.0.0.1"))
	ms, err := listenMetrics(addr, prometheus.NewRegistry(), lim)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ms.Serve() }()
	t.Cleanup(func() {
		ms.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return addr
}

// TestMetricsIdleTimeout: a scraper's connection kept alive after its
// scrape is closed after the idle timeout, which is shorter here than the
// read timeout the server would otherwise wait for the next request.
func TestMetricsIdleTimeout(t *testing.T) {
	lim := metricsLimits{maxConns: 2, readTimeout: 10 * time.Second, writeTimeout: time.Second, idle: 200 * time.Millisecond}
	addr := serveMetrics(t, lim)
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: rmqlb\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("scrape: %s, close %v; want 200 on a kept-alive connection", resp.Status, resp.Close)
	}
	start := time.Now()
	c.SetReadDeadline(start.Add(lim.readTimeout / 2))
	if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an idle kept-alive connection was not closed within %v: %v (idle timeout %v)", lim.readTimeout/2, err, lim.idle)
	}
	t.Logf("idle connection closed %v after its scrape (idle timeout %v)", time.Since(start).Round(time.Millisecond), lim.idle)
}
