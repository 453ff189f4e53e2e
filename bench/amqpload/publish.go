package amqpload

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// PublishConfig describes a publisher: one connection, one channel in
// confirm mode, persistent messages to the default exchange with the
// queue's name as routing key, at most Window of them unconfirmed.
type PublishConfig struct {
	// Queue is the routing key (the default exchange routes it to the
	// queue of that name). Required.
	Queue string
	// Size is the body size in bytes. Zero: 1000 (the blog post's).
	Size int
	// Window is the number of messages in flight (published, not yet
	// confirmed). Zero: 16.
	Window int
	// Count > 0 publishes exactly Count messages and measures all of them
	// (filling a queue); otherwise the publisher runs for Warmup, then
	// measures for Duration.
	Count int
	// Warmup and Duration: zero means 1 s and 5 s.
	Warmup, Duration time.Duration
	// Mark, when not nil, is called on the publisher's goroutine when the
	// measured time begins (the first time the publisher looks at the
	// clock at or after its start) and when it ends (likewise; with
	// Count, after the last confirm): twice in all unless the publisher
	// fails first, so that the caller can take readings that cover the
	// measured time. The publisher waits for it.
	Mark func()
}

func (c PublishConfig) withDefaults() PublishConfig {
	if c.Size == 0 {
		c.Size = 1000
	}
	if c.Window == 0 {
		c.Window = 16
	}
	if c.Warmup == 0 {
		c.Warmup = time.Second
	}
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
	}
	return c
}

// PublishResult is what a publisher measured.
type PublishResult struct {
	// Confirmed counts the confirms received in the measured time.
	Confirmed int
	// Elapsed is the measured time.
	Elapsed time.Duration
	// Latencies holds, for each message published in the measured time,
	// the time from its basic.publish to its confirm.
	Latencies []time.Duration
	// Nacked counts negative confirms (a broker that could not take the
	// message).
	Nacked int
}

// Rate is confirms per second over the measured time.
func (r PublishResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Confirmed) / r.Elapsed.Seconds()
}

// ErrNacked is returned by Publish with a count of messages when the broker
// nacked some.
var ErrNacked = errors.New("broker nacked messages")

// Publish runs a publisher against t until done (Count sent and confirmed,
// or Warmup + Duration passed and every message in flight confirmed) or
// ctx ends.
func Publish(ctx context.Context, t Target, cfg PublishConfig) (PublishResult, error) {
	cfg = cfg.withDefaults()
	var res PublishResult
	conn, ch, err := t.Open(ctx, "amqp-bench publisher")
	if err != nil {
		return res, err
	}
	defer conn.Close()
	closes := conn.NotifyClose(make(chan *amqp.Error, 1))
	if err := ch.Confirm(false); err != nil {
		return res, fmt.Errorf("confirm.select: %w", err)
	}
	body := make([]byte, cfg.Size)
	for i := range body {
		body[i] = 'x'
	}
	type inFlight struct {
		dc *amqp.DeferredConfirmation
		at time.Time
	}
	var queue []inFlight
	start := time.Now()
	from, to := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	if cfg.Count > 0 {
		from, to = start, time.Time{}
	}
	sent := 0
	win := window{mark: cfg.Mark}
	for {
		now := time.Now()
		win.at(now, from, to)
		sending := (cfg.Count > 0 && sent < cfg.Count) || (cfg.Count == 0 && now.Before(to))
		if sending && len(queue) < cfg.Window {
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", cfg.Queue, false, false, amqp.Publishing{
				DeliveryMode: amqp.Persistent,
				Body:         body,
			})
			if err != nil {
				return res, fmt.Errorf("publishing: %w", err)
			}
			queue = append(queue, inFlight{dc, now})
			sent++
			continue
		}
		if len(queue) == 0 {
			break
		}
		oldest := queue[0]
		select {
		case <-oldest.dc.Done():
		case e := <-closes:
			return res, fmt.Errorf("connection closed with %d messages unconfirmed: %v", len(queue), e)
		case <-ctx.Done():
			return res, ctx.Err()
		}
		at := time.Now()
		win.at(at, from, to)
		queue = queue[1:]
		if !oldest.dc.Acked() {
			res.Nacked++
		}
		if !at.Before(from) && (to.IsZero() || at.Before(to)) {
			res.Confirmed++
		}
		if !oldest.at.Before(from) && (to.IsZero() || oldest.at.Before(to)) {
			res.Latencies = append(res.Latencies, at.Sub(oldest.at))
		}
		if cfg.Count > 0 {
			res.Elapsed = at.Sub(start)
		}
	}
	win.end()
	if cfg.Count == 0 {
		res.Elapsed = cfg.Duration
	}
	if res.Nacked > 0 {
		return res, fmt.Errorf("%w: %d", ErrNacked, res.Nacked)
	}
	return res, nil
}
