package main

import (
	"context"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// consumer is the blog post's consumer.py with manual acknowledgements: through
// the VIP it declares the blog post's topology (on every connection, as the
// blog post does, unless amqpClient.declareEvery is off), consumes queue
// "sayHello" with consumer tag "testConsumer", records each message's number
// and acks it. The blog post consumes with no_ack, which loses whatever is in
// flight when a connection dies; an ack after recording makes a lost message
// visible as such and an unacked one come back as a duplicate.
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
	var moved <-chan struct{}
	reconnecting(ctx, nil, c.tl, "consumer", func() (*amqp.Connection, error) {
		_, moved = c.client.addr()
		declare := c.client.declareEvery || c.tally.totals().ConsConns == 0
		conn, d, err := c.connect(ctx, declare)
		if err != nil {
			return nil, err
		}
		deliveries = d
		c.tally.connected(false)
		return conn, nil
	}, func(conn *amqp.Connection) string {
		return c.consumeLoop(ctx, moved, conn, deliveries)
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

// consumeLoop records deliveries until the connection fails or the
// client's target moves, and returns why ("" when ctx ended).
func (c *consumer) consumeLoop(ctx context.Context, moved <-chan struct{}, conn *amqp.Connection, deliveries <-chan amqp.Delivery) string {
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	last := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-moved:
			return "target moved"
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
