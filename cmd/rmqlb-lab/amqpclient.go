package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// amqpClient dials AMQP connections to the VIP (or, to compare, straight
// to a broker) from the client host's namespace, as the blog post's scripts
// do, with the blog post's vhost and user. retarget may be called from any
// goroutine; the other fields are set before the clients start.
type amqpClient struct {
	host      *netlab.Host
	queueType string // "quorum" or "mirrored"
	// declareEvery makes every new connection of the producer and the
	// consumer declare the exchange, the queue and the binding, as most
	// clients do; false declares once, at the start.
	declareEvery bool
	// dialTimeout bounds connect plus AMQP handshake: a frozen broker
	// accepts TCP connections but never answers.
	dialTimeout time.Duration
	// heartbeat is the AMQP heartbeat; a dead connection is noticed after
	// three missed ones at the latest.
	heartbeat time.Duration
	// setupTimeout bounds opening a channel, declaring and subscribing
	// after the connection is open.
	setupTimeout time.Duration

	mu     sync.Mutex
	target netip.AddrPort // where connections go
	moved  chan struct{}  // closed and replaced when target changes
}

// newAMQPClient returns a client of the lab's queue that connects from
// host to target, with the lab's timeouts: a heartbeat of 2 s (the broker
// and the client find a dead connection after 2 to 3 s of silence at
// most), 3 s for connect and handshake, 5 s for the set-up of a channel.
func newAMQPClient(host *netlab.Host, target netip.AddrPort, queueType string) *amqpClient {
	return &amqpClient{host: host, queueType: queueType, declareEvery: true, target: target, moved: make(chan struct{}),
		dialTimeout: 3 * time.Second, heartbeat: 2 * time.Second, setupTimeout: 5 * time.Second}
}

// addr returns where new connections go, and a channel closed when that
// changes (the producer and the consumer then reconnect).
func (c *amqpClient) addr() (netip.AddrPort, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.target, c.moved
}

// retarget sends new connections to a and makes the producer and the
// consumer leave their current ones.
func (c *amqpClient) retarget(a netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a == c.target {
		return
	}
	c.target = a
	close(c.moved)
	c.moved = make(chan struct{})
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

// dial opens a connection named name to the client's target.
func (c *amqpClient) dial(ctx context.Context, name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	target, _ := c.addr()
	url := fmt.Sprintf("amqp://%s:%s@%s/%s", user, password, target, vhost)
	return amqp.DialConfig(url, amqp.Config{
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
