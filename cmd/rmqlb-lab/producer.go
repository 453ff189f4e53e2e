package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// producer is the blog post's producer.py with publisher confirms (and, as
// most clients do, declaring the topology on each connection unless
// amqpClient.declareEvery is off): it publishes
// persistent message N ("this is N", message id N) to exchange "test" with
// routing key "hello" every interval, waits for the broker's confirm, and on
// any failure reconnects through the VIP at once and publishes the same N
// again (so a message whose confirm was lost may arrive twice; none that was
// confirmed may go missing). A message RabbitMQ returns as unroutable
// (mandatory publish, no queue bound) is counted as returned, not as
// confirmed, and published again. Run owns its connection; it returns when
// ctx ends or stop is closed.
type producer struct {
	client   *amqpClient
	tally    *tally
	tl       *timeline
	interval time.Duration
	// confirmTimeout bounds the wait for one confirm before the connection
	// is given up.
	confirmTimeout time.Duration
}

func (p *producer) run(ctx context.Context, stop <-chan struct{}) {
	seq := 1
	var ch *amqp.Channel
	var returns <-chan amqp.Return
	var moved <-chan struct{}
	reconnecting(ctx, stop, p.tl, "producer", func() (*amqp.Connection, error) {
		_, moved = p.client.addr()
		conn, c, rs, err := p.connect(ctx)
		if err != nil {
			return nil, err
		}
		ch, returns = c, rs
		p.tally.connected(true)
		return conn, nil
	}, func(conn *amqp.Connection) string {
		var why string
		seq, why = p.publishLoop(ctx, stop, moved, conn, ch, returns, seq)
		return why
	})
}

// connect opens a connection and a channel in confirm mode, and returns
// them with the channel's returns (basic.return), which the publish loop
// reads after each confirm.
func (p *producer) connect(ctx context.Context) (*amqp.Connection, *amqp.Channel, <-chan amqp.Return, error) {
	conn, err := p.client.dial(ctx, "producer")
	if err != nil {
		return nil, nil, nil, err
	}
	var ch *amqp.Channel
	err = bounded(conn, p.client.setupTimeout, func(stage *string) error {
		var err error
		*stage = "channel.open"
		if ch, err = conn.Channel(); err != nil {
			return err
		}
		if p.client.declareEvery {
			if err := p.client.declare(ch, stage); err != nil {
				return err
			}
		}
		*stage = "confirm.select"
		return ch.Confirm(false)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	// The client hands a basic.return to this channel before it handles
	// the ack that follows it, so the returns of a message are here by
	// the time its confirm is.
	returns := ch.NotifyReturn(make(chan amqp.Return, 16))
	return conn, ch, returns, nil
}

// acked books the broker's ack of message seq at time at: a message
// RabbitMQ returned (the returns come before their ack) is counted as
// returned and not as confirmed. It reads returns without waiting and
// reports whether seq was returned.
func (p *producer) acked(seq int, returns <-chan amqp.Return, at time.Time) (returned bool) {
	id := strconv.Itoa(seq)
	for drained := false; !drained; {
		select {
		case r, ok := <-returns:
			if !ok { // the channel closed
				drained = true
				break
			}
			p.tally.ret()
			p.tl.Logf("producer: message %s returned unroutable: %d %s", r.MessageId, r.ReplyCode, r.ReplyText)
			returned = returned || r.MessageId == id
		default:
			drained = true
		}
	}
	if !returned {
		p.tally.confirm(seq, at)
	}
	return returned
}

// publishLoop publishes from seq on until a failure or until the client's
// target moves, and returns the next number to publish and why it stopped
// ("" for ctx or stop). A message returned as unroutable is published
// again at the next tick.
func (p *producer) publishLoop(ctx context.Context, stop, moved <-chan struct{}, conn *amqp.Connection, ch *amqp.Channel,
	returns <-chan amqp.Return, seq int) (int, string) {
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return seq, ""
		case <-stop:
			return seq, ""
		case <-moved:
			return seq, "target moved"
		case e := <-closes:
			return seq, "connection closed: " + errText(e)
		case <-time.After(time.Until(next)):
		}
		next = next.Add(p.interval)
		if now := time.Now(); next.Before(now) {
			next = now // do not burst after a stall
		}
		pctx, cancel := context.WithTimeout(ctx, p.confirmTimeout)
		dc, err := ch.PublishWithDeferredConfirmWithContext(pctx, exchange, routingKey, true, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent,
			MessageId:    strconv.Itoa(seq),
			Timestamp:    time.Now(),
			Body:         []byte(fmt.Sprintf("this is %d", seq)),
		})
		if err != nil {
			cancel()
			return seq, "publishing: " + errText(err)
		}
		p.tally.publish()
		var acked bool
		select {
		case <-dc.Done():
			acked = dc.Acked()
		case e := <-closes:
			cancel()
			return seq, "connection closed while waiting for a confirm: " + errText(e)
		case <-pctx.Done():
			cancel()
			if ctx.Err() != nil {
				return seq, ""
			}
			p.tally.timeout()
			return seq, fmt.Sprintf("no confirm of message %d within %v", seq, p.confirmTimeout)
		}
		cancel()
		if !acked {
			p.tally.nack()
			return seq, fmt.Sprintf("message %d nacked by the broker", seq)
		}
		if !p.acked(seq, returns, time.Now()) {
			seq++
		}
	}
}

// reconnecting is the client loop that the producer and the consumer share.
// Until ctx ends or stop is closed (nil: never) it calls connect, which
// makes a connection to the client's target ready for use; a failure is logged
// once per distinct error and retried every 100 ms. On a connection it
// calls serve, which uses it until it fails and returns why ("" when ctx
// ended or stop was closed); the loss is logged with role as the prefix,
// and so is the time the next connection took. The caller owns the loop:
// it runs on the caller's goroutine.
func reconnecting(ctx context.Context, stop <-chan struct{}, tl *timeline, role string,
	connect func() (*amqp.Connection, error), serve func(*amqp.Connection) string) {
	var lostAt time.Time
	attempts := 0
	lastErr := ""
	for ctx.Err() == nil && !closed(stop) {
		attempts++
		conn, err := connect()
		if err != nil {
			if msg := err.Error(); msg != lastErr {
				tl.Logf("%s: connecting failed: %s (retrying every 100ms)", role, msg)
				lastErr = msg
			}
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		if !lostAt.IsZero() {
			tl.Logf("%s: reconnected %v after the loss (%d attempts)",
				role, time.Since(lostAt).Round(time.Millisecond), attempts)
		}
		attempts, lastErr = 0, ""
		if why := serve(conn); why != "" {
			lostAt = time.Now()
			tl.Logf("%s: connection lost: %s", role, why)
		}
		// A broker that cannot finish the channel (its queue's leader is
		// away) may never answer Connection.Close: do not wait for it.
		_ = conn.CloseDeadline(time.Now().Add(300 * time.Millisecond))
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
