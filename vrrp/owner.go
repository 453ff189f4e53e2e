package vrrp

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// ownerWorker calls the Owner from its own goroutine so that a slow Owner
// never delays adverts. Requests coalesce: the worker works towards the
// latest wanted ownership; every Acquire request leads to at least one
// Acquire call (re-announcing) unless a later Release request supersedes it.
//
// A Release that fails leaves the VIPs, or some of them, on the
// interface: the worker tries it again after releaseRetry, doubling up to
// releaseRetryMax, until one succeeds or an Acquire is wanted again (a
// BACKUP must not keep addresses the new master announces). The worker
// starts out holding the VIPs when the instance carries on as MASTER from
// the process it succeeds (Adopt), so that a Release is not skipped.
type ownerWorker struct {
	i    *Instance
	ctx  context.Context // not cancelled; each call adds ownerTimeout on the instance's clock
	kick chan struct{}   // cap 1
	quit chan struct{}
	done chan struct{}
	held bool // the VIPs may be on the interface; owned by run

	// guarded by i.mu
	want bool
	gen  uint64
}

// Retries of a failed Release: the first after releaseRetry, each next
// after twice the last, at most releaseRetryMax apart.
const (
	releaseRetry    = time.Second
	releaseRetryMax = 30 * time.Second
)

// newOwnerWorker returns the worker of i; held says the VIPs are on the
// interface already (the instance adopted MASTER).
func newOwnerWorker(i *Instance, ctx context.Context, held bool) *ownerWorker {
	return &ownerWorker{i: i, ctx: ctx, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}), held: held}
}

// request asks for the VIPs to be held (acquire) or not.
func (w *ownerWorker) request(acquire bool) {
	w.i.mu.Lock()
	w.want = acquire
	w.gen++
	w.i.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// stop makes run apply the pending request and return.
func (w *ownerWorker) stop() { close(w.quit) }

func (w *ownerWorker) run() {
	defer close(w.done)
	var doneGen uint64
	var retry Timer // armed while a failed Release is to be tried again
	backoff := releaseRetry
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	// noRetry disarms the retry and starts its backoff again.
	noRetry := func() {
		if retry != nil {
			retry.Stop()
		}
		backoff = releaseRetry
	}
	// released records the outcome of a Release: a failure arms the
	// retry, a success disarms it.
	released := func(err error) {
		if err == nil {
			w.held = false
			noRetry()
			return
		}
		if retry == nil {
			retry = w.i.clock.NewTimer(backoff)
		} else {
			retry.Reset(backoff)
		}
		backoff = min(2*backoff, releaseRetryMax)
	}
	apply := func() {
		for {
			w.i.mu.Lock()
			want, gen := w.want, w.gen
			w.i.mu.Unlock()
			if gen == doneGen {
				return
			}
			doneGen = gen
			if !want && !w.held {
				continue
			}
			if want {
				noRetry()
				w.held = true // also when it fails: some may have been added
				w.call(true)
				continue
			}
			released(w.call(false))
		}
	}
	var retryC <-chan time.Time
	for {
		retryC = nil
		if retry != nil {
			retryC = retry.C()
		}
		select {
		case <-w.kick:
			apply()
		case <-retryC:
			w.i.mu.Lock()
			want := w.want
			w.i.mu.Unlock()
			if !want && w.held {
				w.i.log.Info("releasing VIPs again after a failed release")
				released(w.call(false))
			}
		case <-w.quit:
			apply()
			return
		}
	}
}

// call calls the Owner's Acquire or Release and returns its error.
func (w *ownerWorker) call(acquire bool) error {
	owner := w.i.opt.Owner
	what := "releasing VIPs"
	if acquire {
		what = "acquiring VIPs"
	}
	if owner == nil {
		w.i.log.Debug(what + " (no owner configured)")
		return nil
	}
	ctx, cancel := clock.WithTimeout(w.ctx, w.i.clock, w.i.ownerTimeout)
	defer cancel()
	var err error
	if acquire {
		err = owner.Acquire(ctx)
	} else {
		err = owner.Release(ctx)
	}
	if err != nil {
		w.i.mu.Lock()
		w.i.counters.OwnerErrors++
		w.i.mu.Unlock()
		w.i.metrics.inc(func(m *metrics) prometheus.Counter { return m.ownerErrors })
		w.i.log.Error(what+" failed", zap.Error(err))
		return err
	}
	w.i.log.Info(what + " done")
	return nil
}
