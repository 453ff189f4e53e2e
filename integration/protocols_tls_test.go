package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// TestE2EProtocolsOverTLS runs a real RabbitMQ node on h1 with the TLS
// listeners of its management (HTTPS, 15671), MQTT (8883), STOMP (61614)
// and stream (5551) plugins, checked by the rmqlb binary over TLS against
// the test CA, each by a check of its protocol:
//   - each backend is UP, and its check reports the broker's certificate
//     (CN=rmq1) in `rmqlb status`;
//   - a stream check that wants a name the broker's certificate does not
//     carry keeps its backend DOWN, with the TLS reason.
func TestE2EProtocolsOverTLS(t *testing.T) {
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	rmqlbBinary(t)
	l := newLab(t)
	h1 := l.Host("h1")
	ca, srv := brokerPKI(t, h1)
	startRabbitWith(t, h1, rabbittest.Options{Name: "tlsplugins",
		Plugins: []string{"rabbitmq_management", "rabbitmq_mqtt", "rabbitmq_stomp", "rabbitmq_stream"},
		Config: []string{"loopback_users.guest = false",
			"ssl_options.cacertfile = " + ca.File, "ssl_options.certfile = " + srv.CertFile, "ssl_options.keyfile = " + srv.KeyFile,
			"ssl_options.verify = verify_none",
			"management.ssl.ip = " + h1.Addr.String(), "management.ssl.port = 15671",
			"management.ssl.cacertfile = " + ca.File, "management.ssl.certfile = " + srv.CertFile, "management.ssl.keyfile = " + srv.KeyFile,
			"mqtt.listeners.ssl.default = " + h1.AddrPort(8883).String(),
			"stomp.listeners.ssl.1 = " + h1.AddrPort(61614).String(),
			"stream.listeners.ssl.1 = " + h1.AddrPort(5551).String(),
		},
	})
	tls := fmt.Sprintf("tls: {ca_file: %s, server_name: rmq1.e2e}", ca.File)
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info", Listeners: checkedListener(h1, "https", 15681, "type: http, path: /api/health/checks/alarms, user: guest, password: guest, "+tls, "h", 15671) +
		checkedListener(h1, "mqtts", 18883, "type: mqtt, user: guest, password: guest, "+tls, "m", 8883) +
		checkedListener(h1, "stomps", 16614, "type: stomp, user: guest, password: guest, "+tls, "s", 61614) +
		checkedListener(h1, "streams", 15551, "type: stream, user: guest, password: guest, "+tls, "r", 5551) +
		checkedListener(h1, "wrongname", 15552, "type: stream, tls: {ca_file: "+ca.File+", server_name: rmq9.e2e}", "w", 5551)})

	for _, b := range []string{"h", "m", "s", "r"} {
		// The plugins listen a moment after the node booted.
		d.waitBackendState(t, b, "up", 60*time.Second)
	}
	s, err := d.status()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"https/h", "mqtts/m", "stomps/s", "streams/r"} {
		chk := findObject(s.raw, func(m map[string]any) bool { return m["backend"] == b })
		raw, _ := json.Marshal(chk)
		if !strings.Contains(string(raw), `"subject":"CN=rmq1"`) || strings.Contains(string(raw), `"last_warning":"`) {
			t.Errorf("check of %s: %s, want the broker's certificate CN=rmq1 and no warning", b, raw)
		}
	}
	detail := d.waitBackendState(t, "w", "down", 10*time.Second)
	if err := waitFor(10*time.Second, func() (bool, error) {
		s, err := d.status()
		if err != nil {
			return false, err
		}
		chk := findObject(s.raw, func(m map[string]any) bool { return m["backend"] == "wrongname/w" })
		raw, _ := json.Marshal(chk)
		return chk != nil && strings.Contains(fmt.Sprint(chk["last_error"]), "certificate is valid for rmq1.e2e, not rmq9.e2e"),
			fmt.Errorf("check of the backend checked for another name: %s (%s), want the name in its last error", raw, detail)
	}); err != nil {
		t.Error(err)
	}
}
