package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// TestE2EManagement runs a real RabbitMQ node with its management, MQTT,
// STOMP and stream plugins on h1 behind five listeners of rmqlb: one
// checking the node with an http check of the management plugin's alarms
// health check (as a monitoring user), one with a TCP connect of the same
// port, and one each of the MQTT, STOMP and stream listeners with a check
// of their protocol:
//   - an HTTP client reads the management API through the proxy;
//   - the node frozen with SIGSTOP goes DOWN under the http, mqtt, stomp
//     and stream checks, with the timeout as its reason, while the TCP
//     connect, which the frozen node's kernel still completes, keeps the
//     other listener's backend UP;
//   - thawed, the node is UP again;
//   - the check user's password changed on the cluster, the node refuses
//     it over HTTP, STOMP and streams, and the backends stay in service,
//     DEGRADED with the refusal.
func TestE2EManagement(t *testing.T) {
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	rmqlbBinary(t)
	l := newLab(t)
	h1 := l.Host("h1")
	mgmt := h1.AddrPort(15672)
	n := startRabbitWith(t, h1, rabbittest.Options{Name: "mgmt",
		Plugins: []string{"rabbitmq_management", "rabbitmq_mqtt", "rabbitmq_stomp", "rabbitmq_stream"},
		Config: []string{"loopback_users.guest = false",
			"management.tcp.ip = " + h1.Addr.String(), "management.tcp.port = 15672",
			"mqtt.listeners.tcp.default = " + h1.AddrPort(1883).String(),
			"stomp.listeners.tcp.1 = " + h1.AddrPort(61613).String(),
			"stream.listeners.tcp.1 = " + h1.AddrPort(5552).String()},
	})
	n.MustCtl(t, "add_user", "rmqlb-monitor", "s3cret")
	n.MustCtl(t, "set_user_tags", "rmqlb-monitor", "monitoring")
	n.MustCtl(t, "set_permissions", "-p", "/", "rmqlb-monitor", "^$", "^$", "^$") // the MQTT, STOMP and stream checks' login

	bind := h1.AddrPort(15682)
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info", Listeners: fmt.Sprintf(`  - name: mgmt
    bind: %s
    check: {type: http, path: /api/health/checks/alarms, user: rmqlb-monitor, password: s3cret, interval: 500ms, timeout: 400ms, rise: 1, fall: 2}
    backends:
      - {name: rmq1, address: %s}
  - name: mgmt_tcp
    bind: %s
    check: {type: tcp, interval: 500ms, timeout: 400ms, rise: 1, fall: 2}
    backends:
      - {name: rmq1t, address: %s}
  - name: mqtt
    bind: %s
    check: {type: mqtt, user: rmqlb-monitor, password: s3cret, interval: 500ms, timeout: 400ms, rise: 1, fall: 2}
    backends:
      - {name: rmq1m, address: %s}
  - name: stomp
    bind: %s
    check: {type: stomp, user: rmqlb-monitor, password: s3cret, interval: 500ms, timeout: 400ms, rise: 1, fall: 2}
    backends:
      - {name: rmq1s, address: %s}
  - name: stream
    bind: %s
    check: {type: stream, user: rmqlb-monitor, password: s3cret, interval: 500ms, timeout: 400ms, rise: 1, fall: 2}
    backends:
      - {name: rmq1r, address: %s}
`, bind, mgmt, h1.AddrPort(15683), mgmt, h1.AddrPort(11883), h1.AddrPort(1883),
		h1.AddrPort(11613), h1.AddrPort(61613), h1.AddrPort(15552), h1.AddrPort(5552))})

	// The management plugin listens a moment after the node booted.
	d.waitBackendState(t, "rmq1", "up", 60*time.Second)
	d.waitBackendState(t, "rmq1t", "up", 10*time.Second)
	d.waitBackendState(t, "rmq1m", "up", 10*time.Second)
	d.waitBackendState(t, "rmq1s", "up", 10*time.Second)
	d.waitBackendState(t, "rmq1r", "up", 10*time.Second)
	// rmqlb status --verbose says what each check reached.
	verbose := d.mustStatusText("--verbose")
	for _, want := range []string{`(?m)^mqtt/rmq1m +MQTT CONNACK 0 connection accepted$`, `(?m)^stomp/rmq1s +STOMP CONNECTED 1\.2 \(RabbitMQ/3\.`, `(?m)^stream/rmq1r +RabbitMQ 3\.\S+ stream \(cluster `} {
		if !regexp.MustCompile(want).MatchString(verbose) {
			t.Errorf("rmqlb status --verbose has no line %s:\n%s", want, verbose)
		}
	}

	client := l.Host("client")
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return client.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequest(http.MethodGet, "http://"+bind.String()+"/api/overview", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("guest", "guest")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("management API through the proxy: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"rabbitmq_version"`) {
		t.Fatalf("management API through the proxy: %s %.200s", resp.Status, body)
	}

	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozenAt := time.Now()
	detail := d.waitBackendState(t, "rmq1", "down", 10*time.Second)
	t.Logf("frozen node DOWN under the http check after %v: %s", time.Since(frozenAt).Round(time.Millisecond), detail)
	if !strings.Contains(detail, "GET /api/health/checks/alarms: timeout after") {
		t.Errorf("frozen node's reason: %s, want the request's timeout", detail)
	}
	detail = d.waitBackendState(t, "rmq1m", "down", 10*time.Second)
	if !strings.Contains(detail, "MQTT CONNECT: timeout after") {
		t.Errorf("frozen node's reason under the mqtt check: %s, want the CONNECT's timeout", detail)
	}
	detail = d.waitBackendState(t, "rmq1s", "down", 10*time.Second)
	if !strings.Contains(detail, "STOMP CONNECT: timeout after") {
		t.Errorf("frozen node's reason under the stomp check: %s, want the CONNECT's timeout", detail)
	}
	detail = d.waitBackendState(t, "rmq1r", "down", 10*time.Second)
	if !strings.Contains(detail, "stream PeerProperties: timeout after") {
		t.Errorf("frozen node's reason under the stream check: %s, want the PeerProperties request's timeout", detail)
	}
	if state, det, err := d.backendState("rmq1t"); err != nil || state != "up" {
		t.Errorf("the TCP connect check of the frozen node: %s %s %v, want UP (its kernel accepts)", state, det, err)
	}
	if err := n.Thaw(); err != nil {
		t.Fatal(err)
	}
	d.waitBackendState(t, "rmq1", "up", 15*time.Second)
	d.waitBackendState(t, "rmq1m", "up", 15*time.Second)
	d.waitBackendState(t, "rmq1s", "up", 15*time.Second)
	d.waitBackendState(t, "rmq1r", "up", 15*time.Second)

	// The check user's password changed on the cluster: every node answers
	// 401 (an ERROR frame to the STOMP check), and the backends stay in
	// service, DEGRADED with the refusal.
	n.MustCtl(t, "change_password", "rmqlb-monitor", "changed")
	for backend, refusal := range map[string]string{
		"mgmt/rmq1":    "login refused: GET /api/health/checks/alarms: 401 Unauthorized",
		"stomp/rmq1s":  "login refused: STOMP ERROR Bad CONNECT: Access refused for user 'rmqlb-monitor'",
		"stream/rmq1r": "login refused: stream SaslAuthenticate: answered 0x08 authentication failure",
	} {
		if err := waitFor(10*time.Second, func() (bool, error) {
			s, err := d.status()
			if err != nil {
				return false, err
			}
			chk := findObject(s.raw, func(m map[string]any) bool { return m["backend"] == backend })
			raw, _ := json.Marshal(chk)
			return chk != nil && strings.EqualFold(fmt.Sprint(chk["state"]), "degraded") &&
					strings.Contains(fmt.Sprint(chk["last_warning"]), refusal),
				fmt.Errorf("check of the backend whose user's password changed: %s, want DEGRADED with the refusal", raw)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if state, det, err := d.backendState("rmq1m"); err != nil || state == "down" {
		t.Errorf("the mqtt check whose user's password changed: %s %s %v, want in service", state, det, err)
	}
	n.MustCtl(t, "change_password", "rmqlb-monitor", "s3cret")
	d.waitBackendState(t, "rmq1", "up", 10*time.Second)
}
