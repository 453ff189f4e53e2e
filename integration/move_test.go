package integration

import (
	"context"
	"fmt"
	"os/exec"
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
	flow := rl.startFlow("rmqlb-move")
	defer flow.stop()
	st := flow.st
	defer exec.Command(d.bin, "backend", "--socket", d.sock, "amqp/rmq1", "ready").Run()

	conns, errs := rl.dialMany(40)
	defer closeAll(conns)
	if len(errs) > 0 {
		t.Fatalf("%d of 40 AMQP connections failed; first: %v", len(errs), errs[0])
	}
	closes := watchCloses(conns)
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
	var closedAt []time.Time
	if err := waitFor(5*time.Second, func() (bool, error) {
		closedAt = closes.times()
		return len(closedAt) > 0, nil
	}); err != nil {
		t.Fatal("none of the 40 clients saw its connection closed")
	}
	closed, spread := len(closedAt), closedAt[len(closedAt)-1].Sub(closedAt[0])
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
	flow.stopProducing()
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

// testRebalance is the cluster after a broker's restart: 30 AMQP clients
// that reconnect when their connection closes, as applications do, all
// connected to rmq2 while rmq1 was drained. Once rmq1 serves again,
// `rmqlb rebalance amqp --wait` on the master closes rmq2's sessions
// above its share until both hold about half, and exits 0; every client
// is connected again at the end; the listener's round robin is steered
// while it runs, so it closes about the 15 above rmq2's share, not the
// twice as many that round robin would send back.
func testRebalance(t *testing.T, rl *rabbitLab) {
	d := rl.daemons["h1"]
	backendCmd := func(args ...string) {
		t.Helper()
		out, err := exec.Command(d.bin, append([]string{"backend", "--socket", d.sock, "amqp/rmq1"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rmqlb backend amqp/rmq1 %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	backendCmd("drain")
	defer exec.Command(d.bin, "backend", "--socket", d.sock, "amqp/rmq1", "ready").Run() // if the test fails before
	if err := d.waitBackend("rmq1", "DRAIN", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	const clients = 30
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	reconnects, connected := 0, 0
	defer func() { cancel(); wg.Wait() }()
	for range clients {
		wg.Go(func() {
			first := true
			for ctx.Err() == nil {
				c, err := rl.dial(5 * time.Second)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				closed := c.NotifyClose(make(chan *amqp.Error, 1))
				mu.Lock()
				connected++
				if !first {
					reconnects++
				}
				mu.Unlock()
				first = false
				select {
				case <-ctx.Done():
					c.Close()
				case <-closed:
				}
				mu.Lock()
				connected--
				mu.Unlock()
			}
		})
	}
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return connected, reconnects
	}
	if err := waitFor(20*time.Second, func() (bool, error) {
		n, _ := count()
		return n == clients && activeOf(t, d, "rmq2") >= clients, fmt.Errorf("%d of %d clients connected, rmq2 has %d sessions", n, clients, activeOf(t, d, "rmq2"))
	}); err != nil {
		t.Fatal(err)
	}
	if n := activeOf(t, d, "rmq1"); n != 0 {
		t.Fatalf("rmq1 (DRAIN) has %d sessions, want none", n)
	}
	backendCmd("ready")
	if err := d.waitBackend("rmq1", "UP", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	out, err := exec.Command(d.bin, "rebalance", "--socket", d.sock, "--rate", "20", "--wait", "amqp").CombinedOutput()
	t.Logf("rebalance of %d clients, all on rmq2 (policy roundrobin, 20 a second): %v\n%s", clients, time.Since(began).Round(time.Millisecond), out)
	if err != nil || !strings.Contains(string(out), "amqp: balanced, ") {
		t.Fatalf("rmqlb rebalance amqp --wait: %v\n%s", err, out)
	}
	var on1, on2 int
	if err := waitFor(20*time.Second, func() (bool, error) {
		n, _ := count()
		on1, on2 = activeOf(t, d, "rmq1"), activeOf(t, d, "rmq2")
		return n == clients && on1+on2 >= clients, fmt.Errorf("%d of %d clients connected; rmq1 %d, rmq2 %d sessions", n, clients, on1, on2)
	}); err != nil {
		t.Fatal(err)
	}
	_, re := count()
	t.Logf("rebalance: rmq1 %d, rmq2 %d sessions; %d reconnects of the %d clients", on1, on2, re, clients)
	if on1 < 12 || on2 > 18 {
		t.Errorf("after the rebalance rmq1 has %d and rmq2 %d sessions; want about %d each", on1, on2, clients/2)
	}
	if re > clients/2+3 {
		t.Errorf("%d sessions closed to move %d: the reconnections were not steered to rmq1", re, clients/2)
	}
}
