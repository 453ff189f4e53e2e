package amqpload

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DialFunc opens a TCP connection for a client (from a network namespace,
// for instance).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Target is where a load's connections go.
type Target struct {
	// URL is the AMQP URL: amqp://user:password@host:port/vhost.
	URL string
	// Dial opens the TCP connection; nil means net.Dialer.
	Dial DialFunc
	// Timeout bounds the TCP connect and the AMQP handshake of one
	// connection. Zero means 10 s.
	Timeout time.Duration
}

func (t Target) timeout() time.Duration {
	if t.Timeout <= 0 {
		return 10 * time.Second
	}
	return t.Timeout
}

// Open connects to the target and opens a channel.
func (t Target) Open(ctx context.Context, name string) (*amqp.Connection, *amqp.Channel, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	dial := t.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := amqp.DialConfig(t.URL, amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, t.timeout())
			defer cancel()
			c, err := dial(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			// amqp091 clears the deadline once the connection is open.
			_ = c.SetDeadline(time.Now().Add(t.timeout()))
			return c, nil
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to %s: %w", redact(t.URL), err)
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("opening a channel: %w", err)
	}
	return conn, ch, nil
}

// redact drops the password from an AMQP URL for messages.
func redact(u string) string {
	if uri, err := amqp.ParseURI(u); err == nil {
		uri.Password = ""
		return uri.String()
	}
	return "(bad URL)"
}

// closeAll closes conns in parallel, each within 10 s, and returns once
// every close has ended.
func closeAll(conns []*amqp.Connection) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.CloseDeadline(time.Now().Add(10 * time.Second))
		}()
	}
	wg.Wait()
}
