package amqpload

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ReconnectConfig is a set of long-lived clients that reconnect when the
// far end closes their connection, as applications do.
type ReconnectConfig struct {
	// Clients is how many connections are opened.
	Clients int
	// Parallel bounds the connections opened at once at the start (not
	// the reconnects, which happen as the closes come). Zero means 100.
	Parallel int
	// Retry is the pause after a failed reconnect attempt before the
	// next. Zero means 1 s (amqp091-go has no recovery of its own; the
	// Java and .NET clients wait 5 s by default).
	Retry time.Duration
	// Wait bounds the measurement: from Ready, how long the clients wait
	// to be closed and to get in again. Zero means 2 minutes.
	Wait time.Duration
	// Ready, when set, is called once every client is connected: the
	// moment to close them (an upgrade of the proxy, say).
	Ready func()
	// Done, when set, is called once the wait has ended (every client
	// closed and back in, or Wait passed), before the connections are
	// closed.
	Done func()
}

// ReconnectResult is what Reconnect measured.
type ReconnectResult struct {
	// Clients is how many were connected; Closed how many of them had
	// their connection closed by the far end within the wait, Back how
	// many of those got in again.
	Clients, Closed, Back int
	// FirstClose is when the first client's connection was closed (zero
	// when none was). CloseSpan is from the first close to the last;
	// AllBack from the first close until the last client that got in
	// again had its channel open.
	FirstClose         time.Time
	CloseSpan, AllBack time.Duration
	// Times holds, per client that got in again, the time from the
	// close of its connection to its new channel being open (TCP
	// connect, AMQP handshake, channel.open, and any retries), sorted.
	Times []time.Duration
	// BackAt holds, per client that got in again, the time from the
	// first close to its new channel being open, sorted.
	BackAt []time.Duration
	// FailedAttempts counts the reconnect attempts that failed, Errors
	// them by message.
	FailedAttempts int
	Errors         map[string]int
}

// Reconnect opens c.Clients connections to t (each with a channel), calls
// c.Ready, then waits until each has been closed by the far end and has
// connected again (retrying every c.Retry), or until c.Wait has passed.
// It closes every connection it holds before it returns. An error means
// the clients could not all connect at the start.
func Reconnect(ctx context.Context, t Target, c ReconnectConfig) (ReconnectResult, error) {
	parallel, retry, wait := c.Parallel, c.Retry, c.Wait
	if parallel <= 0 {
		parallel = 100
	}
	if retry <= 0 {
		retry = time.Second
	}
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	type client struct {
		conn   *amqp.Connection
		closed <-chan *amqp.Error
	}
	clients := make([]client, c.Clients)
	var (
		mu      sync.Mutex
		openErr error
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, parallel)
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, _, err := t.Open(ctx, fmt.Sprintf("amqp-bench reconnect %d", i))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if openErr == nil {
					openErr = fmt.Errorf("opening client %d of %d: %w", i, c.Clients, err)
				}
				return
			}
			clients[i] = client{conn: conn, closed: conn.NotifyClose(make(chan *amqp.Error, 1))}
		}()
	}
	wg.Wait()
	var (
		held   []*amqp.Connection
		closes []time.Time
		backs  []time.Time
	)
	for _, cl := range clients {
		if cl.conn != nil {
			held = append(held, cl.conn)
		}
	}
	if openErr != nil {
		closeAll(held)
		return ReconnectResult{}, openErr
	}
	res := ReconnectResult{Clients: c.Clients, Errors: map[string]int{}}
	if c.Ready != nil {
		c.Ready()
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var times []time.Duration
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-cl.closed:
			case <-wctx.Done():
				return
			}
			closedAt := time.Now()
			mu.Lock()
			closes = append(closes, closedAt)
			mu.Unlock()
			for {
				conn, _, err := t.Open(wctx, fmt.Sprintf("amqp-bench reconnect %d again", i))
				mu.Lock()
				if err == nil {
					held = append(held, conn)
					backs = append(backs, time.Now())
					times = append(times, time.Since(closedAt))
					mu.Unlock()
					return
				}
				if wctx.Err() != nil {
					mu.Unlock()
					return
				}
				res.FailedAttempts++
				res.Errors[err.Error()]++
				mu.Unlock()
				select {
				case <-time.After(retry):
				case <-wctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	if c.Done != nil {
		c.Done()
	}
	closeAll(held)
	res.Times = times
	res.summarize(closes, backs)
	return res, nil
}

// summarize fills in the counts and spans of r from the times of the
// closes and of the clients getting in again, and sorts r.Times.
func (r *ReconnectResult) summarize(closes, backs []time.Time) {
	r.Closed, r.Back = len(closes), len(backs)
	sort.Slice(r.Times, func(i, j int) bool { return r.Times[i] < r.Times[j] })
	if len(closes) == 0 {
		return
	}
	first, last := closes[0], closes[0]
	for _, t := range closes {
		if t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	r.FirstClose, r.CloseSpan = first, last.Sub(first)
	r.BackAt = r.BackAt[:0]
	for _, t := range backs {
		r.BackAt = append(r.BackAt, t.Sub(first))
	}
	sort.Slice(r.BackAt, func(i, j int) bool { return r.BackAt[i] < r.BackAt[j] })
	if n := len(r.BackAt); n > 0 {
		r.AllBack = r.BackAt[n-1]
	}
}

// PeakPerWindow returns the largest number of events (each at a time from
// the same origin, sorted) that fall in any interval of length w, the
// busiest stretch: how many clients a burst of reconnects brings at once.
func PeakPerWindow(at []time.Duration, w time.Duration) int {
	peak, j := 0, 0
	for i := range at {
		for at[i]-at[j] >= w {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return peak
}
