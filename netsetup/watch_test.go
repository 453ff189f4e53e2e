package netsetup

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// fakeSub is a subscription whose Receive returns what the test sends on
// events (nil: a message from the kernel) until it is closed.
type fakeSub struct {
	events chan error
	closed chan struct{}
}

func newFakeSub() *fakeSub { return &fakeSub{events: make(chan error), closed: make(chan struct{})} }

func (s *fakeSub) Receive() ([]syscall.NetlinkMessage, *unix.SockaddrNetlink, error) {
	select {
	case err := <-s.events:
		return nil, &unix.SockaddrNetlink{}, err
	case <-s.closed:
		return nil, nil, net.ErrClosed
	}
}

func (s *fakeSub) Close() { close(s.closed) }

// TestRTWatch drives an rtWatch through a failing subscription, a failed
// subscribe and a failed read, on a fake clock.
func TestRTWatch(t *testing.T) {
	clk := clock.NewFake(t0)
	subs := make(chan *fakeSub, 4)
	subErrs := make(chan error, 4)
	syncs := make(chan chan error) // each sync asks the test for its result
	reported := make(chan error, 16)
	w := &rtWatch{
		clock: clk,
		subscribe: func() (nlSub, error) {
			if err := <-subErrs; err != nil {
				return nil, err
			}
			s := newFakeSub()
			subs <- s
			return s, nil
		},
		sync: func() error {
			r := make(chan error)
			syncs <- r
			return <-r
		},
		every:   time.Minute,
		retry:   time.Second,
		onError: func(err error) { reported <- err },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	subErrs <- nil
	go func() { done <- w.run(ctx) }()
	// sync waits for the next sync and makes it return err.
	sync := func(what string, err error) {
		t.Helper()
		select {
		case r := <-syncs:
			r <- err
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
	waitErr := func(want error) {
		t.Helper()
		select {
		case err := <-reported:
			if !errors.Is(err, want) {
				t.Fatalf("reported %v, want %v", err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("nothing reported, want %v", want)
		}
	}
	sub := <-subs
	sync("sync once subscribed", nil)
	clk.WaitArmed(t, t0.Add(time.Minute))

	// An event: sync, and the periodic sync a minute later.
	clk.Advance(10 * time.Second)
	sub.events <- nil
	sync("sync after an event", nil)
	clk.WaitArmed(t, t0.Add(70*time.Second))
	clk.Advance(time.Minute)
	sync("periodic sync", nil)
	now := t0.Add(70 * time.Second)
	clk.WaitArmed(t, now.Add(time.Minute))

	// The kernel dropped events: subscribe again, which fails once, is
	// retried after a second, and syncs.
	subErrs <- unix.EPERM
	subErrs <- nil
	sub.events <- unix.ENOBUFS
	waitErr(unix.ENOBUFS)
	waitErr(unix.EPERM)
	clk.WaitArmed(t, now.Add(time.Second))
	clk.Advance(time.Second)
	now = now.Add(time.Second)
	sub = <-subs
	sync("sync after subscribing again", nil)
	clk.WaitArmed(t, now.Add(time.Minute))

	// A failed read is retried after retry, before the periodic sync.
	sub.events <- nil
	sync("sync after an event", unix.EBUSY)
	waitErr(unix.EBUSY)
	clk.WaitArmed(t, now.Add(time.Second))
	clk.Advance(time.Second)
	sync("sync retried", nil)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run returned %v", err)
	}
	select {
	case <-sub.closed:
	default:
		t.Fatal("subscription not closed")
	}
}

// TestRTWatchPeriod: a watch whose period changes arms its next periodic
// sync with the new period.
func TestRTWatchPeriod(t *testing.T) {
	clk := clock.NewFake(t0)
	var period atomic.Int64
	period.Store(int64(time.Minute))
	syncs := make(chan struct{}, 16)
	w := &rtWatch{
		clock:     clk,
		subscribe: func() (nlSub, error) { return newFakeSub(), nil },
		sync:      func() error { syncs <- struct{}{}; return nil },
		period:    func() time.Duration { return time.Duration(period.Load()) },
		retry:     time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	defer func() { cancel(); <-done }()
	synced := func() {
		t.Helper()
		select {
		case <-syncs:
		case <-time.After(5 * time.Second):
			t.Fatal("no sync")
		}
	}
	synced()
	clk.WaitArmed(t, t0.Add(time.Minute))
	period.Store(int64(10 * time.Second))
	clk.Advance(time.Minute)
	synced()
	clk.WaitArmed(t, t0.Add(time.Minute+10*time.Second))
}
