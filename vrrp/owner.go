package vrrp

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// ownerWorker calls the Owner from its own goroutine so that a slow Owner
// never delays adverts. Requests coalesce: the worker works towards the
// latest wanted ownership; every Acquire request leads to at least one
// Acquire call (re-announcing) unless a later Release request supersedes it.
type ownerWorker struct {
	i    *Instance
	ctx  context.Context // not cancelled; each call adds ownerTimeout on the instance's clock
	kick chan struct{}   // cap 1
	quit chan struct{}
	done chan struct{}

	// guarded by i.mu
	want bool
	gen  uint64
}

func newOwnerWorker(i *Instance, ctx context.Context) *ownerWorker {
	return &ownerWorker{i: i, ctx: ctx, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
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
	held := false
	apply := func() {
		for {
			w.i.mu.Lock()
			want, gen := w.want, w.gen
			w.i.mu.Unlock()
			if gen == doneGen {
				return
			}
			doneGen = gen
			if !want && !held {
				continue
			}
			held = want
			w.call(want)
		}
	}
	for {
		select {
		case <-w.kick:
			apply()
		case <-w.quit:
			apply()
			return
		}
	}
}

func (w *ownerWorker) call(acquire bool) {
	owner := w.i.opt.Owner
	what := "releasing VIPs"
	if acquire {
		what = "acquiring VIPs"
	}
	if owner == nil {
		w.i.log.Debug(what + " (no owner configured)")
		return
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
		return
	}
	w.i.log.Info(what + " done")
}
