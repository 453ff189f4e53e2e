package integration

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// testLeakingClient reloads the master with maxconn_per_client 10 and
// opens AMQP connections from the client host without closing them, as an
// application that leaks connections does: ten get through and the next
// ones are refused before their handshake, while an application on
// another address (h2's) still connects, publishes with confirms and gets
// its message back through the VIP. The master's status names the client
// host's address and exits 1, and rmqlb clients lists it first, at its
// limit; once the leaked connections close, the
// client host connects again and the reason is gone.
func testLeakingClient(t *testing.T, rl *rabbitLab) {
	const limit = 10
	d := rl.daemons["h1"]
	d.reload(func(c *daemonConf) {
		c.Listeners = strings.Replace(e2eListener(), "    retries: 3\n", fmt.Sprintf("    retries: 3\n    maxconn_per_client: %d\n", limit), 1)
	})
	defer d.reload(func(c *daemonConf) { c.Listeners = e2eListener() })

	var leaked []*amqp.Connection
	defer func() { closeAll(leaked) }()
	for i := range limit {
		c, err := rl.dial(5 * time.Second)
		if err != nil {
			t.Fatalf("connection %d of the client host (maxconn_per_client %d): %v", i+1, limit, err)
		}
		leaked = append(leaked, c)
	}
	const past = 3
	for i := range past {
		c, err := rl.dial(5 * time.Second)
		switch {
		case err == nil:
			c.Close()
			t.Fatalf("connection %d of the client host went through, past maxconn_per_client %d", limit+i+1, limit)
		case strings.Contains(err.Error(), "no handshake after"):
			t.Fatalf("connection %d of the client host: %v; want it refused at once", limit+i+1, err)
		}
		t.Logf("connection %d of the client host refused: %v", limit+i+1, err)
	}

	// Another application, on h2's address, is served.
	other, err := amqp.DialConfig("amqp://guest:guest@"+vipAP.String()+"/", amqp.Config{Dial: rl.lab.Host("h2").Dialer(5 * time.Second)})
	if err != nil {
		t.Fatalf("another client address while the client host is at its limit: %v", err)
	}
	defer other.Close()
	if err := publishAndGet(other, "served beside a leaking client"); err != nil {
		t.Fatalf("another client address: %v", err)
	}

	want := fmt.Sprintf("listener amqp: client %s holds %d connections (maxconn_per_client: %d): new connections from there are refused", rl.client.Addr, limit, limit)
	if reasons, err := waitReasons(d, 10*time.Second, want); err != nil {
		t.Fatalf("status of h1: %v (reasons %q)", err, reasons)
	}
	l := d.mustStatus().list("listeners")[0]
	if l["refused_per_client"] != float64(past) || l["clients_at_limit"] != float64(1) {
		t.Errorf("listener: refused_per_client %v, clients_at_limit %v; want %d and 1", l["refused_per_client"], l["clients_at_limit"], past)
	}
	if text := d.mustStatusText(); !strings.Contains(text, fmt.Sprintf("the busiest %s with %d/%d (1 AT maxconn_per_client)", rl.client.Addr, limit, limit)) {
		t.Errorf("status of h1 does not show the client host as the busiest, at its limit:\n%s", text)
	}

	// rmqlb clients puts the client host first, at its limit, and h2 after.
	out, err := exec.Command(d.bin, "clients", "--socket", d.sock).CombinedOutput()
	rows := regexp.MustCompile(`(?m)^amqp +` + regexp.QuoteMeta(rl.client.Addr.String()) + ` +10/10 AT LIMIT\namqp +` +
		regexp.QuoteMeta(rl.lab.Host("h2").Addr.String()) + ` +1/10\n`)
	if err != nil || !rows.Match(out) || !strings.Contains(string(out), "amqp: 2 client addresses, 1 at maxconn_per_client (10)") {
		t.Errorf("rmqlb clients on h1: %v\n%s", err, out)
	}

	closeAll(leaked)
	leaked = nil
	if err := waitFor(10*time.Second, func() (bool, error) {
		l := d.mustStatus().list("listeners")[0]
		return l["clients_at_limit"] == float64(0), fmt.Errorf("clients_at_limit %v", l["clients_at_limit"])
	}); err != nil {
		t.Fatalf("after the leaked connections closed: %v", err)
	}
	if reasons := d.mustStatus().raw.(map[string]any)["verdict"].(map[string]any)["reasons"]; strings.Contains(fmt.Sprint(reasons), "maxconn_per_client") {
		t.Errorf("after the leaked connections closed, the status still says %q", reasons)
	}
	c, err := rl.dial(5 * time.Second)
	if err != nil {
		t.Fatalf("the client host after its leaked connections closed: %v", err)
	}
	c.Close()
}

// publishAndGet publishes body with a publisher confirm to a queue of its
// own on c and gets it back.
func publishAndGet(c *amqp.Connection, body string) error {
	ch, err := c.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return fmt.Errorf("declaring a queue: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q.Name, false, false, amqp.Publishing{Body: []byte(body)})
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		return fmt.Errorf("confirm: acked %v, %v", ok, err)
	}
	return waitFor(5*time.Second, func() (bool, error) {
		m, ok, err := ch.Get(q.Name, true)
		if err != nil {
			return false, err
		}
		return ok && string(m.Body) == body, fmt.Errorf("message %q not back", body)
	})
}
