package main

import (
	"context"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// consumer is the blog post's consumer.py with manual acknowledgements: through
// the VIP it declares the blog post's topology, consumes queue "sayHello" with
// consumer tag "testConsumer", records each message's number and acks it.
// Two differences from the blog post:
//   - The blog post consumes with no_ack, which loses whatever is in flight when
//     a connection dies; an ack after recording makes a lost message
//     visible as such and an unacked one come back as a duplicate.
//   - The blog post declares the topology again on every reconnection. Declaring
//     durable topology is a Mnesia transaction over every cluster node,
//     which waits for a frozen or cut-off node until Erlang declares it
//     down (net_ticktime, 60 s): with one node frozen, queue.bind stays
//     unanswered. So only the first connection declares; reconnections go
//     straight to basic.consume, which only needs the queue's leader.
//
// Run owns its connection and returns when ctx ends.
type consumer struct {
	client *amqpClient
	tally  *tally
	tl     *timeline
	// stallAfter: with confirmed messages outstanding and no delivery for
	// this long, the connection is deemed stuck and replaced.
	stallAfter time.Duration
}

func (c *consumer) run(ctx context.Context) {
	var deliveries <-chan amqp.Delivery
	reconnecting(ctx, nil, c.tl, "consumer", func() (*amqp.Connection, error) {
		conn, d, err := c.connect(ctx, c.tally.totals().ConsConns == 0)
		if err != nil {
			return nil, err
		}
		deliveries = d
		c.tally.connected(false)
		return conn, nil
	}, func(conn *amqp.Connection) string {
		return c.consumeLoop(ctx, conn, deliveries)
	})
}

func (c *consumer) connect(ctx context.Context, declare bool) (*amqp.Connection, <-chan amqp.Delivery, error) {
	conn, err := c.client.dial(ctx, "consumer")
	if err != nil {
		return nil, nil, err
	}
	var d <-chan amqp.Delivery
	err = bounded(conn, c.client.setupTimeout, func(stage *string) error {
		*stage = "channel.open"
		ch, err := conn.Channel()
		if err == nil && declare {
			err = c.client.declare(ch, stage)
		}
		if err == nil {
			*stage = "basic.qos"
			err = ch.Qos(100, 0, false)
		}
		if err == nil {
			*stage = "basic.consume"
			d, err = ch.ConsumeWithContext(ctx, queueName, "testConsumer", false, false, false, false, nil)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return conn, d, nil
}

// consumeLoop records deliveries until the connection fails, and returns
// why ("" when ctx ended).
func (c *consumer) consumeLoop(ctx context.Context, conn *amqp.Connection, deliveries <-chan amqp.Delivery) string {
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	last := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ""
		case e := <-closes:
			return "connection closed: " + errText(e)
		case d, ok := <-deliveries:
			if !ok {
				return "delivery channel closed (consumer cancelled)"
			}
			last = time.Now()
			seq, err := strconv.Atoi(d.MessageId)
			if err == nil {
				c.tally.receive(seq, last)
			}
			_ = d.Ack(false) // a lost ack means a redelivery, counted as duplicate
		case <-tick.C:
			if time.Since(last) > c.stallAfter && c.tally.totals().Lost > 0 {
				return "no delivery for " + c.stallAfter.String() + " while confirmed messages are outstanding"
			}
		}
	}
}
