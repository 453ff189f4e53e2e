package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// amqpClient dials AMQP connections to the VIP from the client host's
// namespace, as the blog post's scripts do, with the blog post's vhost and user.
type amqpClient struct {
	host      *netlab.Host
	vip       netip.AddrPort
	queueType string // "quorum" or "mirrored"
	// dialTimeout bounds connect plus AMQP handshake: a frozen broker
	// accepts TCP connections but never answers.
	dialTimeout time.Duration
	// heartbeat is the AMQP heartbeat; a dead connection is noticed after
	// three missed ones at the latest.
	heartbeat time.Duration
	// setupTimeout bounds opening a channel, declaring and subscribing
	// after the connection is open.
	setupTimeout time.Duration
}

// bounded runs fn, the set-up of a fresh connection, and gives the
// connection up when fn takes longer than d: a broker may leave a
// declaration or basic.consume unanswered (a frozen cluster member holds up
// the transactions of durable declarations). fn names the method it waits
// for in *stage, for the error. On error the connection is closed.
func bounded(conn *amqp.Connection, d time.Duration, fn func(stage *string) error) error {
	var timedOut atomic.Bool
	t := time.AfterFunc(d, func() {
		timedOut.Store(true)
		_ = conn.CloseDeadline(time.Now()) // fails the pending call
	})
	var stage string
	err := fn(&stage)
	t.Stop()
	if timedOut.Load() {
		err = fmt.Errorf("no answer to %s within %v", stage, d)
	}
	if err != nil {
		_ = conn.CloseDeadline(time.Now().Add(300 * time.Millisecond))
	}
	return err
}

func (c *amqpClient) url() string {
	return fmt.Sprintf("amqp://%s:%s@%s/%s", user, password, c.vip, vhost)
}

// dial opens a connection named name through the VIP.
func (c *amqpClient) dial(ctx context.Context, name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	return amqp.DialConfig(c.url(), amqp.Config{
		Heartbeat:  c.heartbeat,
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, c.dialTimeout)
			defer cancel()
			conn, err := c.host.DialContext(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			// amqp091 clears the deadline once the connection is open.
			_ = conn.SetDeadline(time.Now().Add(c.dialTimeout))
			return conn, nil
		},
	})
}

// queueArgs are the queue's declaration arguments.
func (c *amqpClient) queueArgs() amqp.Table {
	if c.queueType == "quorum" {
		return amqp.Table{"x-queue-type": "quorum"}
	}
	return nil // classic; the vhost's ha-all policy mirrors it
}

// declare declares the blog post's durable exchange, queue and binding (all
// idempotent), as the blog post's consumer does on every (re)connection.
func (c *amqpClient) declare(ch *amqp.Channel, stage *string) error {
	*stage = "exchange.declare"
	if err := ch.ExchangeDeclare(exchange, "direct", true, false, false, false, nil); err != nil {
		return fmt.Errorf("declaring exchange %s: %w", exchange, err)
	}
	*stage = "queue.declare"
	if _, err := ch.QueueDeclare(queueName, true, false, false, false, c.queueArgs()); err != nil {
		return fmt.Errorf("declaring queue %s: %w", queueName, err)
	}
	*stage = "queue.bind"
	if err := ch.QueueBind(queueName, routingKey, exchange, false, nil); err != nil {
		return fmt.Errorf("binding queue %s: %w", queueName, err)
	}
	return nil
}

// setupTopology declares the topology once through the VIP before the
// clients start, so that no confirmed message can be unroutable.
func (c *amqpClient) setupTopology(ctx context.Context) error {
	conn, err := c.dial(ctx, "rmqlb-lab setup")
	if err != nil {
		return fmt.Errorf("connecting through the VIP: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("opening channel: %w", err)
	}
	var stage string
	return c.declare(ch, &stage)
}

// errText shortens an error for the timeline.
func errText(err error) string {
	if err == nil {
		return "closed"
	}
	if e, ok := err.(*amqp.Error); ok {
		return fmt.Sprintf("%d %s", e.Code, e.Reason)
	}
	return err.Error()
}
