package main

import (
	"io"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestAckedReturned: a message RabbitMQ returned before acking it is
// counted as returned, not as confirmed (so never as lost); its next
// publish, acked without a return, is confirmed. A return of another
// message is counted but does not hold this one back.
func TestAckedReturned(t *testing.T) {
	tl := newTally()
	p := &producer{tally: tl, tl: newTimeline(io.Discard)}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	returns := make(chan amqp.Return, 4)

	returns <- amqp.Return{MessageId: "7", ReplyCode: 312, ReplyText: "NO_ROUTE"}
	if !p.acked(7, returns, at) {
		t.Error("message 7, returned, was not reported as returned")
	}
	if got := tl.totals(); got.Confirmed != 0 || got.Lost != 0 || got.Returned != 1 {
		t.Errorf("after the return: confirmed %d, lost %d, returned %d; want 0, 0, 1", got.Confirmed, got.Lost, got.Returned)
	}
	if p.acked(7, returns, at.Add(time.Second)) {
		t.Error("message 7 published again and not returned was reported as returned")
	}
	returns <- amqp.Return{MessageId: "3"}
	if p.acked(8, returns, at.Add(2*time.Second)) {
		t.Error("message 8 was reported as returned for message 3's return")
	}
	close(returns) // the channel closed: nothing more to read, no wait
	if p.acked(9, returns, at.Add(3*time.Second)) {
		t.Error("message 9 was reported as returned on a closed returns channel")
	}
	got := tl.totals()
	if got.Confirmed != 3 || got.Returned != 2 || got.Lost != 3 {
		t.Errorf("totals: confirmed %d, returned %d, lost (not received) %d; want 3, 2, 3", got.Confirmed, got.Returned, got.Lost)
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if c := tl.confirmed[7]; !c.Equal(at.Add(time.Second)) {
		t.Errorf("message 7 confirmed at %v, want at its second ack %v", c, at.Add(time.Second))
	}
}
