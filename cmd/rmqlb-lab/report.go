package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// finish stops the producer, lets the consumer drain the queue, and stops
// the probe. It returns the final counts.
func (l *lab) finish(ctx context.Context) totals {
	l.tl.Section("drain: producer stopped, consumer empties the queue")
	close(l.stopP)
	select {
	case <-l.pDone:
	case <-time.After(10 * time.Second):
		l.tl.Logf("producer did not stop within 10s")
	}
	// Wait for every confirmed message, as long as deliveries progress.
	last, lastN := time.Now(), -1
	for ctx.Err() == nil {
		t := l.tally.totals()
		if t.Lost == 0 {
			break
		}
		if t.Received != lastN {
			last, lastN = time.Now(), t.Received
		}
		if time.Since(last) > 15*time.Second {
			l.tl.Logf("no new delivery for 15s with %d confirmed messages outstanding: giving up", t.Lost)
			break
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	t := l.tally.totals()
	l.tl.Logf("consumer has %d of %d confirmed messages", t.Received, t.Confirmed)
	if m, ok := l.master(); ok == nil {
		l.tl.Logf("queue at the end: %s", l.cluster.queueInfo(ctx, m))
	}
	l.probe.Stop()
	return t
}

// summary prints the table of steps and the message counts, and returns
// whether the run passed: every step met its expectation and no confirmed
// message was lost.
func (l *lab) summary(t totals) bool {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "STEP\tVIP MOVED AFTER\tCLIENTS FLOWING AFTER\tVIP OUTAGES\tLONGEST\tPRODUCER GAP\tCONSUMER GAP\tRECONNECTS P/C\tRESULT\n")
	ok := true
	for _, r := range l.results {
		res := "ok"
		if r.Stalled {
			res = "ok (clients stalled until the next step)"
		}
		if r.Err != nil {
			res, ok = "FAILED: "+r.Err.Error(), false
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%v\t%v\t%d/%d\t%s\n", r.Name, ms(r.Failover), ms(r.Flowing), r.Outages, ms(r.LongestOutage),
			r.ProducerGap.Round(time.Millisecond), r.ConsumerGap.Round(time.Millisecond), r.ProdReconnects, r.ConsReconnects, res)
	}
	tw.Flush()
	l.tl.Section("summary")
	l.tl.Plain(b.String())
	l.tl.Plain(fmt.Sprintf(`
messages (%s queue %q, one every %v):
  published     %d  (basic.publish calls, republished ones included)
  confirmed     %d  (distinct messages acked by the broker)
  received      %d  (distinct messages delivered to the consumer)
  lost          %d  (confirmed, never received)
  duplicates    %d  (deliveries of a message already received)
  nacked %d, confirm timeouts %d, returned %d; connections opened: producer %d, consumer %d
`, l.opts.queueType, queueName, l.opts.publishInterval, t.Published, t.Confirmed, t.Received, t.Lost, t.Duplicates,
		t.Nacked, t.Timeouts, t.Returned, t.ProdConns, t.ConsConns))
	if t.Lost > 0 {
		m := l.tally.missing()
		if len(m) > 20 {
			m = m[:20]
		}
		l.tl.Plain(fmt.Sprintf("  first lost message numbers: %v\n", m))
		ok = false
	}
	if t.Confirmed == 0 {
		l.tl.Plain("  no message was confirmed at all\n")
		ok = false
	}
	if len(l.results) < l.stepsTotal {
		ok = false
	}
	return ok
}
