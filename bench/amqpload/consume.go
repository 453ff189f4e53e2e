package amqpload

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ConsumeConfig describes a consumer: one connection, one channel with a
// prefetch limit, manual acknowledgement of every message.
type ConsumeConfig struct {
	// Queue to consume from. Required.
	Queue string
	// Prefetch is the channel's basic.qos prefetch count. Zero: 100.
	Prefetch int
	// Count > 0 consumes Count messages and measures from the first
	// delivery to the last (draining a queue filled beforehand);
	// otherwise the consumer runs for Warmup, then measures for Duration.
	Count int
	// Warmup and Duration: zero means 1 s and 5 s.
	Warmup, Duration time.Duration
	// Mark, when not nil, is called on the consumer's goroutine when the
	// measured time begins and when it ends (with Count, at the first and
	// at the last delivery; otherwise when the timers of the warm-up and
	// of the measured time fire): twice in all unless the consumer fails
	// first. The consumer waits for it.
	Mark func()
}

// ConsumeResult is what a consumer measured.
type ConsumeResult struct {
	// Received counts deliveries in the measured time.
	Received int
	// Elapsed is the measured time.
	Elapsed time.Duration
}

// Rate is deliveries per second over the measured time.
func (r ConsumeResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Received) / r.Elapsed.Seconds()
}

// Consume runs a consumer against t until done or ctx ends.
func Consume(ctx context.Context, t Target, cfg ConsumeConfig) (ConsumeResult, error) {
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 100
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = time.Second
	}
	if cfg.Duration == 0 {
		cfg.Duration = 5 * time.Second
	}
	var res ConsumeResult
	conn, ch, err := t.Open(ctx, "amqp-bench consumer")
	if err != nil {
		return res, err
	}
	defer conn.Close()
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Qos(cfg.Prefetch, 0, false); err != nil {
		return res, fmt.Errorf("basic.qos: %w", err)
	}
	start := time.Now()
	deliveries, err := ch.ConsumeWithContext(ctx, cfg.Queue, "", false, false, false, false, nil)
	if err != nil {
		return res, fmt.Errorf("basic.consume: %w", err)
	}
	from, to := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	var timer, begin <-chan time.Time
	if cfg.Count == 0 {
		tm := time.NewTimer(time.Until(to))
		defer tm.Stop()
		timer = tm.C
		if cfg.Mark != nil {
			tb := time.NewTimer(time.Until(from))
			defer tb.Stop()
			begin = tb.C
		}
	}
	win := window{mark: cfg.Mark}
	var first time.Time
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return res, fmt.Errorf("deliveries ended after %d messages", res.Received)
			}
			if err := d.Ack(false); err != nil {
				return res, fmt.Errorf("basic.ack: %w", err)
			}
			now := time.Now()
			if cfg.Count > 0 {
				if first.IsZero() {
					first = now
					win.begin()
				}
				res.Received++
				if res.Received == cfg.Count {
					win.end()
					// Count deliveries, Count-1 intervals between them.
					res.Received--
					res.Elapsed = now.Sub(first)
					return res, nil
				}
				continue
			}
			if !now.Before(from) && now.Before(to) {
				res.Received++
			}
		case <-begin:
			win.begin()
		case <-timer:
			win.end()
			res.Elapsed = cfg.Duration
			return res, nil
		case e := <-closes:
			return res, fmt.Errorf("connection closed after %d messages: %v", res.Received, e)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
}
