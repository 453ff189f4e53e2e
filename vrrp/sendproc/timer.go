package sendproc

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/rawio"
)

// advertTimer is the sender process's clock: a timerfd (a high-resolution
// timer of CLOCK_MONOTONIC) that the goroutine sending the adverts waits
// for in the Go runtime's network poller, like on a socket.
//
// Waiting in the poller, and not in a system call the goroutine makes
// (as ppoll would), matters for what the process costs: while the
// goroutine is parked the runtime has no processor running, so its
// monitor thread (sysmon) sleeps for good instead of waking every 10 ms
// to look at a processor stuck in a system call (and signalling it to
// preempt it). The timerfd is the poller's own descriptor (no epoll
// instance of the sender's in between): a wake-up is one return of the
// poller's epoll_wait, one read of the timer's count (the kernel re-arms
// a repeating timerfd only then) and the sends. The timer repeats on the
// advert grid of a lone instance (no re-arming per advert).
//
// An advertTimer's arm is called with the server's lock held; wait by
// one goroutine; close by any.
type advertTimer struct {
	f         *os.File // the timerfd, owned; registered with the poller
	fd        int
	rc        syscall.RawConn
	spec      unix.ItimerSpec
	monoEpoch int64 // CLOCK_MONOTONIC at the origin of the server's now, or just after

	// What the timer is armed for, in the server's time.
	armed  bool
	at     int64 // its next expiry
	period int64 // zero: once
	sets   int   // timerfd_settime calls so far

	// fired counts the kernel timer's expiries wait has read (its
	// goroutine adds, arm reads); firedAtSet is fired as arm read it just
	// before its last timerfd_settime. A one-shot timer that has fired
	// since is spent.
	fired      atomic.Uint64
	firedAtSet uint64
}

// newAdvertTimer returns a disarmed timer; monoEpoch is CLOCK_MONOTONIC
// at (or just after) the origin of the times given to arm, so that the
// timer never expires before the time asked (clockOrigin). Were it to
// expire early all the same, the server would find nothing due and ask
// for the same deadline again: arm sees that the one-shot timer fired and
// sets it again (the kernel then expires it at once, until the server's
// time reaches the deadline), rather than take it for pending and never
// wake again.
func newAdvertTimer(monoEpoch int64) (*advertTimer, error) {
	// Non-blocking, so that os.NewFile registers it with the poller.
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating the advert timer: %w", err)
	}
	t := &advertTimer{f: os.NewFile(uintptr(fd), "sendproc-timer"), fd: fd, monoEpoch: monoEpoch}
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		return nil, fmt.Errorf("setting up the advert timer: %w", err)
	}
	return t, nil
}

// close releases the timerfd; a wait in progress returns.
func (t *advertTimer) close() { t.f.Close() }

// arm makes the timer expire at at (the server's time; now is the time
// now), and then every period if period is not zero; ok false disarms
// it. A timer already armed for it is left alone: a repeating one that
// expired since it was armed is on the same grid, a one-shot one is
// pending while its deadline is ahead and wait has not read its expiry.
func (t *advertTimer) arm(now, at, period int64, ok bool) error {
	if !ok {
		if !t.armed {
			return nil
		}
		t.armed = false
		return t.settime(unix.ItimerSpec{})
	}
	if t.armed && t.period > 0 && now >= t.at {
		t.at += ((now-t.at)/t.period + 1) * t.period
	}
	if t.armed && t.at == at && t.period == period && (period > 0 || at > now && t.fired.Load() == t.firedAtSet) {
		return nil
	}
	t.armed, t.at, t.period = true, at, period
	// Read before the timer is set: an expiry of the old setting read in
	// between makes the next arm set this one again (harmless), where read
	// after it an expiry of the new one could be missed.
	t.firedAtSet = t.fired.Load()
	return t.settime(unix.ItimerSpec{Value: unix.NsecToTimespec(t.monoEpoch + at), Interval: unix.NsecToTimespec(period)})
}

func (t *advertTimer) settime(spec unix.ItimerSpec) error {
	t.sets++
	t.spec = spec
	_, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(t.fd), unix.TFD_TIMER_ABSTIME,
		uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("arming the advert timer: %w", e)
	}
	return nil
}

// wait calls expired once now and then after each expiry of the timer
// (expiries while it ran count as one), until expired returns an error
// (that error) or the timer is closed (an error too: the caller closed
// it). The whole loop runs in one RawConn.Read, so that no expiry the
// poller saw while expired ran is dropped.
func (t *advertTimer) wait(expired func() error) error {
	var err error
	rerr := t.rc.Read(func(uintptr) bool {
		// Clear its count of expirations, which re-arms a repeating
		// timer; nothing to read (EAGAIN) the first time. An expiry read
		// is of the timer as last set (timerfd_settime resets the count),
		// and arm counts it.
		var count [8]byte
		if n, _ := rawio.Read(t.fd, count[:]); n == len(count) {
			t.fired.Add(1)
		}
		err = expired()
		return err != nil // else park until the next expiry
	})
	if err != nil {
		return err
	}
	return fmt.Errorf("waiting for the advert timer: %w", rerr)
}
