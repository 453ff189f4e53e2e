package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// metricsLimits are the limits of the metrics endpoint: a scraper gets
// what it needs, a client that connects and never sends (or never reads)
// does not hold a connection for long, and many clients cannot take the
// daemon's file descriptors.
type metricsLimits struct {
	maxConns                        int
	readTimeout, writeTimeout, idle time.Duration
}

// defaultMetricsLimits are the limits of the daemon's endpoint.
var defaultMetricsLimits = metricsLimits{maxConns: 16, readTimeout: 5 * time.Second, writeTimeout: 10 * time.Second, idle: 30 * time.Second}

// metricsServer is the HTTP server of /metrics on its listening socket.
type metricsServer struct {
	srv  *http.Server
	ln   net.Listener // raw, limited to maxConns connections
	raw  *net.TCPListener
	addr netip.AddrPort // as configured
}

// listenMetrics opens the metrics endpoint at addr: /metrics of reg, with
// the read, write and idle timeouts of lim and at most lim.maxConns
// connections at a time (more wait in the listen queue).
func listenMetrics(addr netip.AddrPort, reg *prometheus.Registry, lim metricsLimits) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("listening for metrics: %w", err)
	}
	return newMetricsServer(addr, ln.(*net.TCPListener), reg, lim), nil
}

// inheritMetrics is listenMetrics on a listening socket handed over by the
// daemon this process succeeds; it takes f over.
func inheritMetrics(addr netip.AddrPort, f *os.File, reg *prometheus.Registry, lim metricsLimits) (*metricsServer, error) {
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("inheriting the metrics socket: %w", err)
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return nil, errors.New("inheriting the metrics socket: not a TCP listener")
	}
	return newMetricsServer(addr, tl, reg, lim), nil
}

func newMetricsServer(addr netip.AddrPort, raw *net.TCPListener, reg *prometheus.Registry, lim metricsLimits) *metricsServer {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: lim.maxConns}))
	return &metricsServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: lim.readTimeout,
			ReadTimeout:       lim.readTimeout,
			WriteTimeout:      lim.writeTimeout,
			IdleTimeout:       lim.idle,
			MaxHeaderBytes:    8 << 10,
		},
		ln:   netutil.LimitListener(raw, lim.maxConns),
		raw:  raw,
		addr: addr,
	}
}

// File returns a copy of the listening socket, for a successor process;
// the caller owns it.
func (m *metricsServer) File() (*os.File, error) {
	f, err := m.raw.File()
	if err != nil {
		return nil, fmt.Errorf("handing over the metrics socket: %w", err)
	}
	return f, nil
}

// Serve serves until Close; it returns http.ErrServerClosed then.
func (m *metricsServer) Serve() error { return m.srv.Serve(m.ln) }

// Close closes the socket and every connection.
func (m *metricsServer) Close() error { return m.srv.Close() }
