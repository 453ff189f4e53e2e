package daemon

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
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
	srv *http.Server
	ln  net.Listener
}

// listenMetrics opens the metrics endpoint at addr: /metrics of reg, with
// the read, write and idle timeouts of lim and at most lim.maxConns
// connections at a time (more wait in the listen queue).
func listenMetrics(addr netip.AddrPort, reg *prometheus.Registry, lim metricsLimits) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("listening for metrics: %w", err)
	}
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
		ln: netutil.LimitListener(ln, lim.maxConns),
	}, nil
}

// Serve serves until Close; it returns http.ErrServerClosed then.
func (m *metricsServer) Serve() error { return m.srv.Serve(m.ln) }

// Close closes the socket and every connection.
func (m *metricsServer) Close() error { return m.srv.Close() }
