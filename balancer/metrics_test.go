package balancer

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/metricstest"
)

// TestBackendWeightMetricInEffect: rmqlb_backend_weight is the weight
// the policies use, an operator's weight while one is set, and its help
// says so, as that of rmqlb_backend_weight_ratio says which weight its
// share is of.
func TestBackendWeightMetricInEffect(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	l, err := NewListener(validConfig(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetBackendWeight("rmq1", 3); err != nil {
		t.Fatal(err)
	}
	mfs := metricstest.Gather(t, reg)
	labels := withListener(map[string]string{"backend": "rmq1"}, "amqp")
	if v := metricstest.Value(t, mfs, "rmqlb_backend_weight", labels); v != 3 {
		t.Errorf("rmqlb_backend_weight%v = %v under an operator's weight of 3 (file 10), want 3", labels, v)
	}
	for _, name := range []string{"rmqlb_backend_weight", "rmqlb_backend_weight_ratio"} {
		help := mfs[name].GetHelp()
		if strings.Contains(help, "onfigured weight") || !strings.Contains(help, "in effect") {
			t.Errorf("help of %s is %q: it is of the weight in effect (the operator's or the configured one)", name, help)
		}
	}
}

// TestMetrics: names and labels of a listener's metrics (listener on
// every one, backend on the backends' ones, the scheme of the health-check
// metrics), their values from the listener's state, the lint, and a second
// listener on the same registry.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	cfg := validConfig()
	cfg.Backends[1].Backup = true
	cfg.MaxConn = 4
	cfg.Backends[1].MaxConn = 2
	cfg.MaxConnPerClient = 7
	l, err := NewListener(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	// Two client addresses hold 3 and 1 sessions, and one was refused.
	for _, a := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.1"} {
		l.clients.add(netip.MustParseAddr(a), 7)
	}
	l.refusedClient.Add(1)
	l.refusedNotAllowed.Add(5)
	if err := l.SetBackendState("rmq2", rbackend.Down, "check failed"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetBackendWeightPercent("rmq1", 25); err != nil {
		t.Fatal(err)
	}
	mfs := metricstest.Gather(t, reg)
	listenerLabels := []string{"listener"}
	backendLabels := []string{"backend", "listener"}
	want := map[string][]string{
		"rmqlb_listener_listening":                  listenerLabels,
		"rmqlb_listener_active_connections":         listenerLabels,
		"rmqlb_listener_max_connections":            listenerLabels,
		"rmqlb_listener_connections_total":          listenerLabels,
		"rmqlb_listener_refused_connections_total":  {"listener", "reason"},
		"rmqlb_listener_session_timeouts_total":     {"listener", "timeout"},
		"rmqlb_listener_persistence_entries":        listenerLabels,
		"rmqlb_listener_persistence_full_total":     listenerLabels,
		"rmqlb_listener_clients":                    listenerLabels,
		"rmqlb_listener_busiest_client_connections": listenerLabels,
		"rmqlb_listener_max_connections_per_client": listenerLabels,
		"rmqlb_backend_active_connections":          backendLabels,
		"rmqlb_backend_max_connections":             backendLabels,
		"rmqlb_backend_connections_total":           backendLabels,
		"rmqlb_backend_connect_failures_total":      backendLabels,
		"rmqlb_backend_sent_bytes_total":            backendLabels,
		"rmqlb_backend_received_bytes_total":        backendLabels,
		"rmqlb_backend_up":                          backendLabels,
		"rmqlb_backend_state":                       {"backend", "listener", "state"},
		"rmqlb_backend_weight":                      backendLabels,
		"rmqlb_backend_weight_ratio":                backendLabels,
		"rmqlb_backend_backup":                      backendLabels,
		"rmqlb_backend_sessions_ended_total":        {"backend", "listener", "reason"},
	}
	metricstest.RequireFamilies(t, mfs, want)
	metricstest.RequireClean(t, reg)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rmqlb_backend_up", map[string]string{"backend": "rmq1"}, 1},
		{"rmqlb_backend_up", map[string]string{"backend": "rmq2"}, 0},
		{"rmqlb_backend_state", map[string]string{"backend": "rmq1", "state": "UP"}, 1},
		{"rmqlb_backend_state", map[string]string{"backend": "rmq1", "state": "DOWN"}, 0},
		{"rmqlb_backend_state", map[string]string{"backend": "rmq2", "state": "DOWN"}, 1},
		{"rmqlb_backend_state", map[string]string{"backend": "rmq2", "state": "UP"}, 0},
		{"rmqlb_backend_weight", map[string]string{"backend": "rmq1"}, 10},
		{"rmqlb_backend_weight_ratio", map[string]string{"backend": "rmq1"}, 0.25},
		{"rmqlb_backend_weight_ratio", map[string]string{"backend": "rmq2"}, 1},
		{"rmqlb_backend_backup", map[string]string{"backend": "rmq1"}, 0},
		{"rmqlb_backend_backup", map[string]string{"backend": "rmq2"}, 1},
		{"rmqlb_listener_listening", nil, 0},
		{"rmqlb_listener_active_connections", nil, 0},
		{"rmqlb_listener_max_connections", nil, 4},
		{"rmqlb_backend_max_connections", map[string]string{"backend": "rmq1"}, 0},
		{"rmqlb_backend_max_connections", map[string]string{"backend": "rmq2"}, 2},
		{"rmqlb_listener_refused_connections_total", map[string]string{"reason": "maxconn"}, 0},
		{"rmqlb_listener_refused_connections_total", map[string]string{"reason": "fd_limit"}, 0},
		{"rmqlb_listener_refused_connections_total", map[string]string{"reason": "maxconn_per_client"}, 1},
		{"rmqlb_listener_refused_connections_total", map[string]string{"reason": "not_allowed"}, 5},
		{"rmqlb_listener_clients", nil, 2},
		{"rmqlb_listener_busiest_client_connections", nil, 3},
		{"rmqlb_listener_max_connections_per_client", nil, 7},
		{"rmqlb_listener_refused_connections_total", map[string]string{"reason": "local_resources"}, 0},
		{"rmqlb_listener_refused_connections_total", map[string]string{"reason": "no_backend"}, 0},
	} {
		c.labels = withListener(c.labels, "amqp")
		if v := metricstest.Value(t, mfs, c.name, c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	// One state series per state and backend: exactly one is 1.
	for _, b := range []string{"rmq1", "rmq2"} {
		ms := metricstest.Find(mfs["rmqlb_backend_state"], map[string]string{"backend": b})
		sum := 0.0
		for _, m := range ms {
			sum += m.GetGauge().GetValue()
		}
		if len(ms) != len(rbackend.States()) || sum != 1 {
			t.Errorf("backend %s: %d state series summing to %v, want %d summing to 1", b, len(ms), sum, len(rbackend.States()))
		}
	}

	// A second listener with another name registers on the same registry.
	c := validConfig()
	c.Name = "other"
	if _, err := NewListener(c, nil, reg); err != nil {
		t.Errorf("second listener: %v", err)
	}
	if v := metricstest.Value(t, metricstest.Gather(t, reg), "rmqlb_backend_up", map[string]string{"listener": "other", "backend": "rmq2"}); v != 1 {
		t.Errorf("rmq2 of the second listener up = %v, want 1", v)
	}
}

// withListener returns labels with listener=name added.
func withListener(labels map[string]string, name string) map[string]string {
	out := map[string]string{"listener": name}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// TestMetricsTraffic: the byte counters say which way the bytes went (the
// backend answers 3 bytes for every 1 it gets), and a client that no
// backend can take is counted under no_backend.
func TestMetricsTraffic(t *testing.T) {
	srv := newServer(t, "127.0.0.1", func(c net.Conn) {
		buf := make([]byte, 100)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		c.Write(bytes.Repeat(buf, 3))
	})
	dead := unusedAddr(t, "127.0.0.1")
	cfg := baseConfig([]BackendConfig{{Name: "a", Address: srv.addr, Weight: 1}})
	reg := prometheus.NewPedanticRegistry()
	l := startRegistered(t, cfg, reg, 1)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(bytes.Repeat([]byte("x"), 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 300)); err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) float64 {
		return metricstest.Value(t, metricstest.Gather(t, reg), name, withListener(labels, "test"))
	}
	eventually(t, 5*time.Second, "byte counters", func() bool {
		return value("rmqlb_backend_sent_bytes_total", map[string]string{"backend": "a"}) == 100 &&
			value("rmqlb_backend_received_bytes_total", map[string]string{"backend": "a"}) == 300
	})
	for name, want := range map[string]float64{
		"rmqlb_listener_listening": 1, "rmqlb_listener_connections_total": 1, "rmqlb_listener_active_connections": 1,
	} {
		if v := value(name, nil); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}

	// The only backend moves to an address where nothing listens.
	cfg.Backends[0].Address = dead
	if err := l.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := waitClosed(c2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a refusal counted", func() bool {
		return value("rmqlb_listener_refused_connections_total", map[string]string{"reason": "no_backend"}) == 1
	})
	if v := value("rmqlb_backend_connect_failures_total", map[string]string{"backend": "a"}); v == 0 {
		t.Error("no connect failure counted")
	}
	metricstest.RequireClean(t, reg)
}
