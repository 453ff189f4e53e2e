package integration

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// testMoveSessions is a broker's maintenance: with a producer (publisher
// confirms) and a consumer running through the VIP and 40 more AMQP
// clients connected, the operator moves rmq1's clients off it on the
// master with `rmqlb backend amqp/rmq1 move-sessions --rate 10 --wait`.
// The command exits 0 once rmq1 has no session left; the clients it
// closed were closed a few at a time (not all at once as
// shutdown-sessions does), none of rmq2's was; new clients all go to
// rmq2; and every confirmed message reaches the consumer. rmq1 is handed
// back (ready) at the end.
func testMoveSessions(t *testing.T, rl *rabbitLab) {
	d := rl.daemons["h1"]
	st := &pcStats{confirmed: map[int]time.Time{}, received: map[int]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	const queue = "rmqlb-move"
	stopProducer := make(chan struct{})
	wg.Add(2)
	go func() { defer wg.Done(); rl.produce(ctx, stopProducer, queue, st) }()
	go func() { defer wg.Done(); rl.consume(ctx, queue, st) }()
	defer func() { cancel(); wg.Wait() }()
	defer exec.Command(d.bin, "backend", "--socket", d.sock, "amqp/rmq1", "ready").Run()

	conns, errs := rl.dialMany(40)
	defer closeAll(conns)
	if len(errs) > 0 {
		t.Fatalf("%d of 40 AMQP connections failed; first: %v", len(errs), errs[0])
	}
	var mu sync.Mutex
	var closedAt []time.Time
	for _, c := range conns {
		ch := c.NotifyClose(make(chan *amqp.Error, 1))
		go func() {
			if e, ok := <-ch; ok && e != nil {
				mu.Lock()
				closedAt = append(closedAt, time.Now())
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second) // the producer publishes meanwhile
	onRMQ1 := activeOf(t, d, "rmq1")
	if onRMQ1 < 15 {
		t.Fatalf("rmq1 has %d sessions, want about half of the 42", onRMQ1)
	}

	began := time.Now()
	out, err := exec.Command(d.bin, "backend", "--socket", d.sock, "amqp/rmq1", "move-sessions", "--rate", "10", "--wait").CombinedOutput()
	took := time.Since(began)
	if err != nil || !strings.Contains(string(out), "; none left") {
		t.Fatalf("rmqlb backend amqp/rmq1 move-sessions --wait: %v\n%s", err, out)
	}
	t.Logf("move-sessions of rmq1 (%d sessions at 10 a second): %v\n%s", onRMQ1, took.Round(time.Millisecond), out)
	if n := activeOf(t, d, "rmq1"); n != 0 {
		t.Errorf("rmq1 has %d sessions after the move, want none", n)
	}
	if err := waitFor(5*time.Second, func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(closedAt) > 0, nil
	}); err != nil {
		t.Fatal("none of the 40 clients saw its connection closed")
	}
	mu.Lock()
	slices.SortFunc(closedAt, func(a, b time.Time) int { return a.Compare(b) })
	closed, spread := len(closedAt), closedAt[len(closedAt)-1].Sub(closedAt[0])
	mu.Unlock()
	t.Logf("move-sessions: %d of the 40 clients closed over %v", closed, spread.Round(time.Millisecond))
	// Those of rmq1 only (the producer and the consumer may have been
	// among its sessions), and at the pace asked: 10 a second cannot close
	// a dozen within a second, where shutdown-sessions closes them at once.
	if closed > onRMQ1 || closed < onRMQ1-2 {
		t.Errorf("%d of the 40 clients closed, want rmq1's (%d sessions with the producer and the consumer)", closed, onRMQ1)
	}
	if closed >= 12 && spread < time.Second {
		t.Errorf("%d clients closed within %v: not paced at 10 a second", closed, spread)
	}

	more, errs := rl.dialMany(10)
	defer closeAll(more)
	if len(errs) > 0 {
		t.Fatalf("%d of 10 AMQP connections after the move failed; first: %v", len(errs), errs[0])
	}
	if n := activeOf(t, d, "rmq1"); n != 0 {
		t.Errorf("rmq1 (DRAIN) has %d sessions after 10 new clients, want none", n)
	}
	if text := d.mustStatusText(); !strings.Contains(text, fmt.Sprintf("moved the sessions of rmq1: %d of %d in ", onRMQ1, onRMQ1)) {
		t.Errorf("status of h1 does not show the move:\n%s", text)
	}

	time.Sleep(time.Second)
	close(stopProducer)
	err = waitFor(20*time.Second, st.allReceived)
	st.mu.Lock()
	defer st.mu.Unlock()
	t.Logf("move-sessions: producer %d confirmed, consumer %d distinct received (%d duplicates); reconnects producer %d consumer %d",
		len(st.confirmed), len(st.received), st.dups, st.reconnP, st.reconnC)
	if err != nil {
		t.Fatal(err)
	}
}

// activeOf returns backend name's sessions in d's status.
func activeOf(t *testing.T, d *daemon, name string) int {
	t.Helper()
	bs := d.mustStatus().backend(name)
	if bs == nil {
		t.Fatalf("no backend %s in the status", name)
	}
	n, ok := bs.raw["active_conns"].(float64)
	if !ok {
		t.Fatalf("backend %s: no active_conns in %v", name, bs.raw)
	}
	return int(n)
}
