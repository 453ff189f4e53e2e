package amqpload

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// StormResult is what a connection storm measured.
type StormResult struct {
	// Clients is how many clients tried, Connected how many got a
	// connection and a channel.
	Clients, Connected int
	// AllIn is the time from the start until the last client that got in
	// had its channel open.
	AllIn time.Duration
	// Times holds, for each client that got in, the time from the start
	// to its channel being open (TCP connect, AMQP handshake, channel.open).
	Times []time.Duration
	// Errors counts the failures by message.
	Errors map[string]int
}

// Failed is the number of clients that did not get in.
func (r StormResult) Failed() int { return r.Clients - r.Connected }

// Storm starts clients goroutines that all connect to t at the same moment
// (TCP connect, AMQP handshake and channel.open), as every client of a
// broker does after a failover, and waits until each got in or failed.
// Connections stay open until every client is done, then Storm closes them
// all (in parallel) before it returns.
func Storm(ctx context.Context, t Target, clients int) StormResult {
	res := StormResult{Clients: clients, Errors: map[string]int{}}
	var (
		mu    sync.Mutex
		conns []*amqp.Connection
		wg    sync.WaitGroup
	)
	gate := make(chan struct{})
	var start time.Time
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			conn, _, err := t.Open(ctx, fmt.Sprintf("amqp-bench storm %d", i))
			at := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors[err.Error()]++
				return
			}
			conns = append(conns, conn)
			res.Connected++
			res.Times = append(res.Times, at)
		}()
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	sort.Slice(res.Times, func(i, j int) bool { return res.Times[i] < res.Times[j] })
	if n := len(res.Times); n > 0 {
		res.AllIn = res.Times[n-1]
	}
	closeAll(conns)
	return res
}
