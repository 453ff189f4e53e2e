package integration

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/rmqlb/rmqlb/internal/metricstest"
	"github.com/rmqlb/rmqlb/internal/testpki"
)

// TestDashboardMetricsOfTheBinary: every metric the alerting rules and
// the Grafana dashboard use is in a scrape of the rmqlb program running
// in a lab host (a VRRP instance it is master of, a listener with a
// backend it checks with an AMQP handshake and one it checks over TLS),
// with every label they select or group by and every
// value they select. The daemon package's TestDashboardMetrics does the
// same with a daemon on a fake clock.
func TestDashboardMetricsOfTheBinary(t *testing.T) {
	l := newLab(t)
	h1, h3 := l.Host("h1"), l.Host("h3")
	// A broker as far as a handshake check goes: the Connection.Start
	// RabbitMQ 3.10.8 sent (it names its cluster, rxa@vm), then silence.
	start, err := os.ReadFile("../amqpcheck/testdata/connection-start-rabbitmq-3.10.8.bin")
	if err != nil {
		t.Fatal(err)
	}
	serve := func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, 8)); err == nil { // the protocol header
			_, _ = c.Write(start)
			_, _ = io.Copy(io.Discard, c)
		}
	}
	if _, err := h3.ServeConns(h3.AddrPort(7001), serve); err != nil {
		t.Fatal(err)
	}
	// The same over TLS, checked with a client certificate: the
	// certificates' series.
	ca, err := testpki.NewCA(t.TempDir(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("b2", nil, []netip.Addr{h3.Addr})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client("rmqlb-check")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(srv.CertFile, srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srvTLS := &tls.Config{Certificates: []tls.Certificate{pair}}
	if _, err := h3.ServeConns(h3.AddrPort(7002), func(c net.Conn) {
		tc := tls.Server(c, srvTLS)
		defer tc.Close()
		if tc.Handshake() == nil {
			serve(tc)
		}
	}); err != nil {
		t.Fatal(err)
	}
	metrics := h1.AddrPort(9187)
	d := newDaemon(t, l, h1, daemonConf{LogLevel: "info", VRRP: []vrrpConf{{Priority: 150}}, Listeners: fmt.Sprintf(`  - name: amqp
    bind: %s
    check: {type: amqp, mode: handshake, interval: 200ms, timeout: 200ms, rise: 1, fall: 2}
    backends:
      - {name: b1, address: %s:7001}
      - {name: b2, address: %s:7002, check: {tls: {verify: chain, ca_file: %s, cert_file: %s, key_file: %s}}}
`, vipAP, h3.Addr, h3.Addr, ca.File, client.CertFile, client.KeyFile)})
	conf, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.path, append([]byte("metrics_listen: "+metrics.String()+"\n"), conf...), 0o644); err != nil {
		t.Fatal(err)
	}
	d.start()
	if err := d.waitState("MASTER", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Scrape once the backend is UP: its checks have run.
	var mfs map[string]*dto.MetricFamily
	if err := waitFor(5*time.Second, func() (bool, error) {
		text, err := scrape(h1, metrics)
		if err != nil {
			return false, err
		}
		if mfs, err = metricstest.ParseText(strings.NewReader(text)); err != nil {
			return false, err
		}
		up := 0
		for _, m := range mfs["rmqlb_backend_up"].GetMetric() {
			if m.GetGauge().GetValue() == 1 {
				up++
			}
		}
		if up < 2 {
			return false, fmt.Errorf("rmqlb_backend_up is 1 for %d backends of 2", up)
		}
		return true, nil
	}); err != nil {
		t.Fatalf("scraping %s: %v\nrmqlb: %s", metrics, err, d.proc.Tail(20))
	}
	qs := metricstest.DashboardQueries(t, "../dist/prometheus/rmqlb-alerts.yml", "../dist/grafana/rmqlb.json")
	for _, q := range qs {
		for _, p := range metricstest.QueryProblems(q, mfs) {
			t.Error(p)
		}
	}
	t.Logf("%d queries of the rules and the dashboard checked against %d families of the program's scrape", len(qs), len(mfs))
}
