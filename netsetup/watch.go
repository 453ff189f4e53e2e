package netsetup

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// DefaultWatchRetry is how long a watch waits before it tries again to
// subscribe or to read the state, after that failed.
const DefaultWatchRetry = time.Second

// nlSub is a netlink multicast subscription as rtWatch uses it; it is
// *nl.NetlinkSocket, and tests substitute subscriptions that fail.
type nlSub interface {
	// Receive returns the next batch of messages; it fails with ENOBUFS
	// when the kernel dropped messages the socket had no room for, and
	// with an error once Close was called.
	Receive() ([]syscall.NetlinkMessage, *unix.SockaddrNetlink, error)
	Close()
}

// rtWatch is a level-triggered watch over rtnetlink multicast groups.
// Messages only say that something changed: sync reads the current state
// and reports what differs from what it reported before. sync runs once
// subscribed (a change between the subscription and the read is seen
// twice rather than missed), after each batch of messages, when nudge
// receives, every `every` (or period()) when that is set, and again after
// retry when it failed.
//
// When the subscription fails (ENOBUFS after a burst of events, or any
// other receive error) run closes it, reports the error to onError,
// subscribes again and syncs: a watch never stops before ctx is done. A
// failed subscribe is retried after retry.
//
// run owns one goroutine per subscription, reading it, and waits for it
// to exit before it returns.
type rtWatch struct {
	clock     clock.Clock
	subscribe func() (nlSub, error)
	sync      func() error
	every     time.Duration // 0: no periodic sync
	// period, when set, gives every at each sync instead (it may change).
	period func() time.Duration
	// nudge, when set, makes the watch sync (and so re-arm its timer for
	// the current period) when it receives.
	nudge   <-chan struct{}
	retry   time.Duration
	onError func(error) // may be nil
}

// run watches until ctx is done and returns nil then.
func (w *rtWatch) run(ctx context.Context) error {
	for {
		sub, err := w.subscribe()
		if err != nil {
			w.report(fmt.Errorf("subscribing to netlink: %w", err))
			if !w.sleep(ctx, w.retry) {
				return nil
			}
			continue
		}
		rd := readSub(sub)
		again := w.serve(ctx, rd)
		sub.Close()
		<-rd.done
		if !again {
			return nil
		}
	}
}

// serve syncs on the events of one subscription. It returns true when the
// subscription failed and run should subscribe again, false when ctx is
// done.
func (w *rtWatch) serve(ctx context.Context, rd *subReader) bool {
	timer := w.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	sync := func() {
		err := w.sync()
		if err != nil {
			w.report(err)
		}
		// A nudge sent before this point (by the sync itself, say) is
		// answered by the period read below.
		select {
		case <-w.nudge:
		default:
		}
		every := w.every
		if w.period != nil {
			every = w.period()
		}
		switch {
		case err != nil && (every <= 0 || w.retry < every):
			timer.Reset(w.retry)
		case every > 0:
			timer.Reset(every)
		}
	}
	sync()
	for {
		select {
		case <-ctx.Done():
			return false
		case err := <-rd.err:
			w.report(fmt.Errorf("receiving netlink events: %w", err))
			return true
		case <-rd.kick:
			sync()
		case <-w.nudge:
			sync()
		case <-timer.C():
			sync()
		}
	}
}

// sleep waits d on the watch's clock; false if ctx was done first.
func (w *rtWatch) sleep(ctx context.Context, d time.Duration) bool {
	t := w.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

func (w *rtWatch) report(err error) {
	if w.onError != nil {
		w.onError(err)
	}
}

// subReader is the goroutine reading one subscription: kick (capacity 1)
// gets a value after messages arrived, err the receive error that ends it
// (also the one Close causes), and done is closed when it has exited.
type subReader struct {
	kick chan struct{}
	err  chan error
	done chan struct{}
}

func readSub(sub nlSub) *subReader {
	r := &subReader{kick: make(chan struct{}, 1), err: make(chan error, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			_, from, err := sub.Receive()
			if err != nil {
				r.err <- err
				return
			}
			if from != nil && from.Pid != nl.PidKernel {
				continue // not from the kernel: not an event
			}
			select {
			case r.kick <- struct{}{}:
			default:
			}
		}
	}()
	return r
}
