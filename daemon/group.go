package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// group owns the goroutines of the daemon's parts. Each part runs until its
// own context is done. A critical part that fails (returns an error other
// than its context's) records the error, without bound on how many do, and
// calls onFail, which makes the daemon stop; a part that is not critical
// (one a reload started) keeps its error to itself. A group is safe for
// concurrent use.
type group struct {
	onFail func()

	mu   sync.Mutex
	errs []error
	// probed are the running parts the watchdog asks to answer (see
	// startProbed), until their goroutine returns.
	probed map[*part]aliver
	wg     sync.WaitGroup
}

// part is one running part: cancel stops it, done is closed when its
// goroutine has returned, err is then its error (nil when it stopped
// because it was cancelled).
type part struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error // written under mu; read under it, or once done is closed
	g      *group

	mu       sync.Mutex
	critical bool // guarded by mu
}

// start runs f in a goroutine with a context derived from parent. The
// returned part stops it.
func (g *group) start(parent context.Context, name string, critical bool, f func(context.Context) error) *part {
	return g.startProbed(parent, name, critical, f, nil)
}

// startProbed is start for a part that can hang without failing: while
// f runs, the watchdog asks a (when not nil) to answer, under the part's
// name (see runWatchdog).
func (g *group) startProbed(parent context.Context, name string, critical bool, f func(context.Context) error, a aliver) *part {
	ctx, cancel := context.WithCancel(parent)
	p := &part{name: name, cancel: cancel, done: make(chan struct{}), g: g, critical: critical}
	if a != nil {
		g.mu.Lock()
		if g.probed == nil {
			g.probed = map[*part]aliver{}
		}
		g.probed[p] = a
		g.mu.Unlock()
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(p.done)
		defer cancel()
		if a != nil {
			defer func() {
				g.mu.Lock()
				delete(g.probed, p)
				g.mu.Unlock()
			}()
		}
		err := f(ctx)
		if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
			p.mu.Lock()
			p.err = fmt.Errorf("%s: %w", name, err)
			critical := p.critical
			p.mu.Unlock()
			if critical {
				g.fail(p.err)
			}
		}
	}()
	return p
}

// fail records err of a critical part and makes the daemon stop.
func (g *group) fail(err error) {
	g.mu.Lock()
	g.errs = append(g.errs, err)
	g.mu.Unlock()
	if g.onFail != nil {
		g.onFail()
	}
}

// makeCritical makes a part started as not critical critical from now on:
// its failure stops the daemon, also a failure that came before the call.
func (p *part) makeCritical() {
	p.mu.Lock()
	was, failed := p.critical, p.err
	p.critical = true
	p.mu.Unlock()
	if !was && failed != nil {
		p.g.fail(failed)
	}
}

// stop cancels the part and waits for its goroutine.
func (p *part) stop() {
	p.cancel()
	<-p.done
}

// probes returns the running parts started with an aliver, in no
// particular order.
func (g *group) probes() []probeTarget {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]probeTarget, 0, len(g.probed)+1)
	for p, a := range g.probed {
		out = append(out, probeTarget{key: p, name: p.name, a: a})
	}
	return out
}

// wait waits for every goroutine the group started.
func (g *group) wait() { g.wg.Wait() }

// err returns the errors of the parts that failed, joined.
func (g *group) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}
