package balancer

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/internal/rabbittest"
	"github.com/rmqlb/rmqlb/proxyproto"
)

// TestAMQPThroughProxy runs real amqp091-go clients through the proxy to a
// real RabbitMQ node that requires the PROXY protocol, then marks the node
// down and checks that the clients notice at once (shutdown-sessions).
func TestAMQPThroughProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts RabbitMQ; skipped with -short")
	}
	node := rabbittest.StartT(t, rabbittest.Options{
		IP:     netip.MustParseAddr("127.0.0.5"),
		Config: []string{"proxy_protocol = true"},
	})
	cfg := baseConfig([]BackendConfig{{Name: "rmq", Address: node.Addr, Weight: 1}})
	cfg.Backends[0].ProxyProtocol = proxyproto.V2
	r := startListener(t, cfg, 2)
	url := fmt.Sprintf("amqp://guest:guest@%s/", r.Addr())

	conn, err := amqp.DialConfig(url, amqp.Config{Heartbeat: 10 * time.Second, Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatalf("dialing RabbitMQ through the proxy: %v", err)
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
	body := make([]byte, 200_000)
	for i := range body {
		body[i] = byte(i)
	}
	const n = 50
	for i := range n {
		if err := ch.PublishWithContext(ctx, "", q.Name, false, false, amqp.Publishing{Body: body, MessageId: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		select {
		case m := <-msgs:
			if m.MessageId != fmt.Sprint(i) || !bytes.Equal(m.Body, body) {
				t.Fatalf("message %d: id %s, %d bytes, want %d bytes as sent", i, m.MessageId, len(m.Body), len(body))
			}
		case <-ctx.Done():
			t.Fatalf("only %d of %d messages came back", i, n)
		}
	}

	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	start := time.Now()
	if err := r.SetBackendState("rmq", rbackend.Down, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
		t.Logf("client noticed the backend going down after %v", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("client still connected 5 s after its backend was marked down")
	}
}
