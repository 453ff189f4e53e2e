package amqpload

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/rabbittest"
)

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {0, 1}, {10, 1}} {
		if got := Percentile(ds, tc.p); got != tc.want {
			t.Errorf("Percentile(p%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	// Nearest rank is the ceiling of p% of the count: the 99th of 1..60
	// is the 60th (59.4 rounds up), the 50th of 1..5 the 3rd.
	var sixty []time.Duration
	for i := 1; i <= 60; i++ {
		sixty = append(sixty, time.Duration(i))
	}
	if got := Percentile(sixty, 99); got != 60 {
		t.Errorf("Percentile(1..60, p99) = %v, want 60", got)
	}
	if got := Percentile(sixty[:5], 50); got != 3 {
		t.Errorf("Percentile(1..5, p50) = %v, want 3", got)
	}
	if Percentile(nil, 50) != 0 {
		t.Error("Percentile of nothing is not 0")
	}
	if ds[0] != 5 {
		t.Error("Percentile sorted its input")
	}
}

// TestLoads runs every load against a real RabbitMQ node on loopback.
func TestLoads(t *testing.T) {
	n := rabbittest.StartT(t, rabbittest.Options{})
	target := Target{URL: n.URL(), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, ch, err := target.Open(ctx, "setup")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("bench", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// marks records when a load's Mark is called.
	var marks []time.Time
	mark := func() { marks = append(marks, time.Now()) }
	pr, err := Publish(ctx, target, PublishConfig{Queue: "bench", Count: 300, Window: 32, Mark: mark})
	if err != nil {
		t.Fatal(err)
	}
	if len(marks) != 2 {
		t.Fatalf("publishing 300: Mark called %d times, want 2", len(marks))
	}
	if pr.Confirmed != 300 || len(pr.Latencies) != 300 || pr.Elapsed <= 0 || pr.Rate() <= 0 {
		t.Fatalf("publishing 300: %d confirmed, %d latencies, elapsed %v", pr.Confirmed, len(pr.Latencies), pr.Elapsed)
	}
	for _, l := range pr.Latencies {
		if l <= 0 {
			t.Fatalf("latency %v", l)
		}
	}
	marks = nil
	called := time.Now()
	cr, err := Consume(ctx, target, ConsumeConfig{Queue: "bench", Count: 300, Mark: mark})
	returned := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	// The marks follow the first and the last delivery's clock readings,
	// each by the time the consumer takes to call Mark (slack for a
	// preempted goroutine on a shared machine).
	if len(marks) != 2 || marks[0].Before(called) || marks[1].After(returned) ||
		marks[1].Sub(marks[0]) < cr.Elapsed-10*time.Millisecond {
		t.Fatalf("draining 300 in %v: marks %v (called at %v, returned at %v)", cr.Elapsed, marks, called, returned)
	}
	t.Logf("drain: %v between the marks, %v measured", marks[1].Sub(marks[0]), cr.Elapsed)
	if cr.Received != 299 || cr.Elapsed <= 0 {
		t.Fatalf("draining 300: %d intervals in %v", cr.Received, cr.Elapsed)
	}
	t.Logf("publish %.0f msgs/s (p50 confirm %v), drain %.0f msgs/s", pr.Rate(), Percentile(pr.Latencies, 50), cr.Rate())

	marks = nil
	consMarks := 0
	called = time.Now()
	mp, mc, err := Mixed(ctx, target, PublishConfig{Queue: "bench", Warmup: 200 * time.Millisecond, Duration: time.Second, Mark: mark},
		ConsumeConfig{Queue: "bench", Mark: func() { consMarks++ }})
	if err != nil {
		t.Fatal(err)
	}
	// Only the publisher's measured time is marked, and not before it
	// starts or ends (the publisher starts after Mixed is called).
	if len(marks) != 2 || consMarks != 0 || marks[0].Before(called.Add(200*time.Millisecond)) ||
		marks[1].Before(called.Add(1200*time.Millisecond)) || marks[1].Sub(marks[0]) < 900*time.Millisecond {
		t.Fatalf("mixed: publisher's marks %v (called at %v), consumer's %d", marks, called, consMarks)
	}
	if mp.Confirmed == 0 || mc.Received == 0 || mp.Elapsed != time.Second || mc.Elapsed != time.Second {
		t.Fatalf("mixed: published %d in %v, consumed %d in %v", mp.Confirmed, mp.Elapsed, mc.Received, mc.Elapsed)
	}
	// The consumer cannot have taken more than was published overall.
	if mc.Received > mp.Confirmed+mp.Confirmed/2+32 {
		t.Errorf("mixed: consumed %d in the window, published %d", mc.Received, mp.Confirmed)
	}

	sr := Storm(ctx, target, 50)
	if sr.Connected != 50 || sr.Failed() != 0 || len(sr.Times) != 50 || sr.AllIn != sr.Times[49] || sr.AllIn <= 0 {
		t.Fatalf("storm of 50: %d in, errors %v, all in after %v", sr.Connected, sr.Errors, sr.AllIn)
	}
}

// TestStormFailures counts the clients that cannot connect, by error.
func TestStormFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sr := Storm(ctx, Target{URL: "amqp://guest:guest@" + addr + "/", Timeout: 2 * time.Second}, 20)
	if sr.Connected != 0 || sr.Failed() != 20 || len(sr.Times) != 0 {
		t.Fatalf("storm against a closed port: %d connected", sr.Connected)
	}
	n := 0
	for msg, c := range sr.Errors {
		n += c
		if !strings.Contains(msg, "connection refused") {
			t.Errorf("error %q", msg)
		}
	}
	if n != 20 {
		t.Errorf("errors counted %d times, want 20", n)
	}
}
