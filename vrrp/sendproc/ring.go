package sendproc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/uring"
)

// ringQueue queues the adverts of the sender process in the kernel with
// io_uring, ahead of their time. Each instance has a timer (a timerfd of
// CLOCK_MONOTONIC ticking on its advert grid, not O_NONBLOCK) and, for a
// refill period (see refillEvery), a chain of requests: a read of the
// timer, which the kernel completes at its next tick, linked to the
// sends of the advert's packets, linked to the next read, and so on;
// then a marker. The process's thread sleeps in io_uring_enter: at a
// tick the kernel wakes it inside that call to send (the ring's deferred
// work runs on its one thread, and only while it waits there, so that a
// chain's steps run in one wake-up) and it goes back to sleep there,
// without returning to user space, without the Go runtime's scheduling
// around a wait in its poller, and without a system call of its own. It returns for the markers, about once per refill period, to
// read the liveness messages and queue the next chain; for the daemon's
// requests (a poll of their socket pair in the same ring); and for a
// send that failed. Successful requests post no completion.
//
// Not io_uring's own timeouts: any timeout's expiry ends a wait in
// io_uring_enter, so each advert would return to user space.
//
// Owned by the goroutine of serveRing, on its locked OS thread.
type ringQueue struct {
	r   *uring.Ring
	seq uint64 // of the last chain queued
	// monoEpoch is CLOCK_MONOTONIC at (or before) the origin of the
	// server's now.
	monoEpoch int64
	spec      unix.ItimerSpec // timerfd_settime's argument
}

// The kinds of request in the ring, in the top byte of their user data;
// below it the instance (16 bits) and the advert's sequence number.
const (
	udSend   uint64 = 1 // a send of a chain
	udRead   uint64 = 2 // a read of a timer in a chain
	udMarker uint64 = 3 // a chain's marker
	udCtrl   uint64 = 4 // the poll of the daemon's requests
	udProbe  uint64 = 5 // openRing's probe

	ringEntries = 512
	seqBits     = 40
)

func userData(kind uint64, id uint16, seq uint64) uint64 {
	return kind<<56 | uint64(id)<<seqBits | seq&(1<<seqBits-1)
}

func splitUserData(ud uint64) (kind uint64, id uint16, seq uint64) {
	return ud >> 56, uint16(ud >> seqBits), ud & (1<<seqBits - 1)
}

// openRing sets up the ring and checks that the kernel has what the
// queue needs (a read of a timerfd that waits for its tick, a chain that
// goes on after it, completions skipped on success, synchronous
// cancellation); an error says what is missing, and the process then
// sends with its timer in the Go runtime's poller instead.
func openRing(monoEpoch int64) (*ringQueue, error) {
	r, err := uring.New(ringEntries)
	if err != nil {
		return nil, err
	}
	k := &ringQueue{r: r, monoEpoch: monoEpoch}
	if err := k.probe(); err != nil {
		r.Close()
		return nil, fmt.Errorf("probing io_uring: %w", err)
	}
	return k, nil
}

// probe queues a read of a timer that ticks at once, linked to a no-op,
// and waits for the no-op.
func (k *ringQueue) probe() error {
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	buf := make([]byte, 8)
	spec := unix.ItimerSpec{Value: unix.Timespec{Nsec: 1}}
	if err := unix.TimerfdSettime(tfd, 0, &spec, nil); err != nil {
		return err
	}
	sqe, _ := k.r.Next()
	uring.PrepRead(sqe, tfd, buf)
	sqe.Flags = uring.FlagLink | uring.FlagSkipSuccess
	sqe.UserData = userData(udProbe, 0, 0)
	sqe, _ = k.r.Next()
	uring.PrepNop(sqe)
	sqe.UserData = userData(udProbe, 0, 1)
	if _, err := k.r.Submit(); err != nil {
		return err
	}
	var got []uring.CQE
	for len(got) == 0 {
		if err := k.r.Wait(); err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		k.r.Completions(func(c uring.CQE) { got = append(got, c) })
	}
	if len(got) != 1 || got[0].UserData != userData(udProbe, 0, 1) || got[0].Res != 0 {
		return fmt.Errorf("a chain after a timer's read completed as %+v", got)
	}
	if _, err := k.r.SyncCancel(userData(udProbe, 0, 0)); err != nil {
		return err
	}
	return nil
}

func (k *ringQueue) close() { k.r.Close() }

// queue queues the chain of e (plan's queue function); the entries go to
// the kernel at the next flush, and whole: a chain ends with a
// submission.
func (k *ringQueue) queue(e *entry) error {
	if e.tfd < 0 {
		return errors.New("queueing adverts: the instance has no timer")
	}
	need := int(e.chain.n)*(1+len(e.msgs)) + 1
	if k.r.Free() < need {
		if err := k.flush(); err != nil {
			return err
		}
	}
	seq := e.chain.seq
	for range e.chain.n {
		sqe, err := k.r.Next()
		if err != nil {
			return err
		}
		uring.PrepRead(sqe, e.tfd, e.tbuf)
		// A soft link: a read taken out or failed drops what follows.
		sqe.Flags = uring.FlagLink | uring.FlagSkipSuccess
		sqe.UserData = userData(udRead, e.id, seq)
		for i := range e.msgs {
			if sqe, err = k.r.Next(); err != nil {
				return err
			}
			uring.PrepSendmsg(sqe, e.fd, &e.msgs[i], unix.MSG_DONTWAIT)
			// Hard: a failed send keeps back neither the next
			// packet nor the next advert.
			sqe.Flags = uring.FlagHardLink | uring.FlagSkipSuccess
			sqe.UserData = userData(udSend, e.id, seq)
		}
	}
	sqe, err := k.r.Next()
	if err != nil {
		return err
	}
	uring.PrepNop(sqe)
	sqe.UserData = userData(udMarker, e.id, seq)
	return nil
}

// flush submits what is queued.
func (k *ringQueue) flush() error {
	_, err := k.r.Submit()
	return err
}

// startTimer makes e's timer tick at e.next and then every interval,
// creating it if e has none.
func (k *ringQueue) startTimer(e *entry) error {
	if e.tfd < 0 {
		// Blocking: a read in the ring then waits for the tick.
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
		if err != nil {
			return fmt.Errorf("creating an advert timer: %w", err)
		}
		e.tfd, e.tbuf = fd, make([]byte, 8)
	}
	k.spec = unix.ItimerSpec{Value: unix.NsecToTimespec(k.monoEpoch + e.next), Interval: unix.NsecToTimespec(e.interval)}
	if err := unix.TimerfdSettime(e.tfd, unix.TFD_TIMER_ABSTIME, &k.spec, nil); err != nil {
		return fmt.Errorf("arming an advert timer: %w", err)
	}
	return nil
}

// sinceTick returns how long ago e's timer last ticked, from the time to
// its next tick; -1 if it is not ticking.
func (k *ringQueue) sinceTick(e *entry) int64 {
	if e.tfd < 0 || unix.TimerfdGettime(e.tfd, &k.spec) != nil || k.spec.Value.Nano() == 0 {
		return -1
	}
	return max(0, e.interval-k.spec.Value.Nano())
}

// forget takes e's chain out of the kernel's queue and returns once none
// of its adverts can go out any more; the adverts whose ticks passed
// count as gone out (see chainCut), and e.next is its grid's next tick.
// With stop, it also closes e's timer.
func (k *ringQueue) forget(e *entry, now int64, stop bool, completion func(uring.CQE)) error {
	var err error
	if e.chain.active {
		if err = k.flush(); err == nil {
			// The pending read; the sends after it go with it.
			_, err = k.r.SyncCancel(userData(udRead, e.id, e.chain.seq))
		}
		// The failures of the sends that went out are there now.
		k.r.Completions(completion)
		e.chainCut(now)
	}
	e.next = e.nextTick(now)
	if stop && e.tfd >= 0 {
		unix.Close(e.tfd)
		e.tfd = -1
	}
	return err
}
