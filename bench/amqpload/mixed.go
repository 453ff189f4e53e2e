package amqpload

import (
	"context"
	"errors"
	"sync"
)

// Mixed runs a publisher and a consumer on the same queue at once, each on
// its own connection, with the same warm-up and measured time, and returns
// both results. The first error cancels the other side. The publisher's
// measured time is the one marked (pub.Mark); cons.Mark is not called: the
// consumer's measured time has the same length and starts when its
// connection is open, within the two connections' set-up time of the
// publisher's.
func Mixed(ctx context.Context, t Target, pub PublishConfig, cons ConsumeConfig) (PublishResult, ConsumeResult, error) {
	pub.Count, cons.Count = 0, 0
	pub = pub.withDefaults()
	cons.Warmup, cons.Duration = pub.Warmup, pub.Duration
	cons.Mark = nil
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg         sync.WaitGroup
		pr         PublishResult
		cr         ConsumeResult
		perr, cerr error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if pr, perr = Publish(ctx, t, pub); perr != nil {
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		if cr, cerr = Consume(ctx, t, cons); cerr != nil {
			cancel()
		}
	}()
	wg.Wait()
	return pr, cr, errors.Join(perr, cerr)
}
