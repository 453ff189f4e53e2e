package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

// TestE2EAMQPS runs a real RabbitMQ node with an AMQPS listener (5671) on h1 behind rmqlb,
// its backends checked by AMQP over TLS:
//   - a login check over TLS keeps the broker UP, and an amqp091-go client speaks AMQP over
//     TLS through the proxy to it (rmqlb passes the TLS session through);
//   - the broker frozen with SIGSTOP goes DOWN (its kernel still completes the TCP
//     handshake; the TLS handshake gets no answer), and UP again once thawed;
//   - a check that wants a name the broker's certificate does not carry keeps its backend
//     DOWN, with the TLS reason in `rmqlb status`.
func TestE2EAMQPS(t *testing.T) {
	if err := rabbittest.Available(); err != nil {
		t.Skip(err)
	}
	rmqlbBinary(t)
	l := newLab(t)
	h1 := l.Host("h1")
	ca, srv := brokerPKI(t, h1)
	amqps := h1.AddrPort(5671)
	n := startRabbit(t, h1, "tls",
		"loopback_users.guest = false", // the login check and the clients come from h1's address
		"listeners.ssl.default = "+amqps.String(),
		"ssl_options.cacertfile = "+ca.File,
		"ssl_options.certfile = "+srv.CertFile,
		"ssl_options.keyfile = "+srv.KeyFile,
		"ssl_options.verify = verify_none",
	)
	bind := h1.AddrPort(5681)
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info", Listeners: fmt.Sprintf(`  - name: amqps
    bind: %s
    check: {mode: login, user: guest, password: guest, interval: 500ms, timeout: 400ms, rise: 1, fall: 2, tls: {ca_file: %s, server_name: rmq1.e2e}}
    backends:
      - {name: rmq1, address: %s}
  - name: wrongname
    bind: %s
    check: {interval: 500ms, timeout: 400ms, rise: 1, fall: 1, tls: {ca_file: %s, server_name: rmq9.e2e}}
    backends:
      - {name: rmq1w, address: %s}
`, bind, ca.File, amqps, h1.AddrPort(5682), ca.File, amqps)})

	d.waitBackendState(t, "rmq1", "up", 30*time.Second)

	roots := x509.NewCertPool()
	pem, err := os.ReadFile(ca.File)
	if err != nil || !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("reading the CA: %v", err)
	}
	client := l.Host("client")
	conn, err := amqp.DialConfig("amqps://guest:guest@"+bind.String()+"/", amqp.Config{
		Dial:            client.Dialer(5 * time.Second),
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "rmq1.e2e"},
	})
	if err != nil {
		t.Fatalf("AMQP over TLS through the proxy: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ch.PublishWithContext(ctx, "", q.Name, false, false, amqp.Publishing{Body: []byte("over TLS")}); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(10*time.Second, func() (bool, error) {
		m, ok, err := ch.Get(q.Name, true)
		if err != nil {
			return false, err
		}
		if ok && string(m.Body) != "over TLS" {
			return false, fmt.Errorf("got %q", m.Body)
		}
		return ok, fmt.Errorf("message not back yet")
	}); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	if err := n.Freeze(); err != nil {
		t.Fatal(err)
	}
	frozenAt := time.Now()
	detail := d.waitBackendState(t, "rmq1", "down", 10*time.Second)
	t.Logf("frozen broker DOWN after %v: %s", time.Since(frozenAt).Round(time.Millisecond), detail)
	if !strings.Contains(detail, "TLS handshake failed") || !strings.Contains(detail, "timeout") {
		t.Errorf("frozen broker's reason: %s, want a TLS handshake timeout", detail)
	}
	if err := n.Thaw(); err != nil {
		t.Fatal(err)
	}
	d.waitBackendState(t, "rmq1", "up", 15*time.Second)

	// The check's own status (rmqlb status: checks) says why the backend is DOWN: its last
	// error (its reason is that of its first failure, which may have been a timeout of a
	// broker slow to start, or frozen above).
	if err := waitFor(10*time.Second, func() (bool, error) {
		s, err := d.status()
		if err != nil {
			return false, err
		}
		chk := findObject(s.raw, func(m map[string]any) bool { return m["backend"] == "wrongname/rmq1w" })
		raw, _ := json.Marshal(chk)
		return chk != nil && strings.EqualFold(fmt.Sprint(chk["state"]), "down") &&
				strings.Contains(fmt.Sprint(chk["last_error"]), "certificate is valid for rmq1.e2e, not rmq9.e2e"),
			fmt.Errorf("check of the backend checked for another name: %s, want DOWN with the name in its last error", raw)
	}); err != nil {
		t.Error(err)
	}
}
