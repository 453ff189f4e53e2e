package sendproc

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waiter waits for the daemon's socket to be readable or for a deadline,
// the sender process's only two events, in the Go runtime's network
// poller: an epoll instance of its own holds the socket and a timerfd (a
// high-resolution timer of CLOCK_MONOTONIC), and the runtime's poller
// waits on that epoll instance like on any socket.
//
// Waiting in the poller, and not in a system call the goroutine makes
// (as ppoll would), matters for what the process costs: while the
// goroutine is parked the runtime has no processor running, so its
// monitor thread (sysmon) sleeps for good instead of waking every 10 ms
// to look at a processor stuck in a system call (and signalling it to
// preempt it). Each advert then costs one thread's wake-up in epoll_wait.
// The timer repeats on the advert grid of a lone instance (no re-arming
// per advert).
//
// A waiter is owned by Serve's goroutine.
type waiter struct {
	ctrl      int      // the daemon's socket (not owned)
	timer     int      // the timerfd, owned
	ep        *os.File // the epoll instance, owned; registered with the poller
	rc        syscall.RawConn
	evs       [2]unix.EpollEvent
	spec      unix.ItimerSpec
	monoEpoch int64 // CLOCK_MONOTONIC at the origin of the server's now, or just before

	// What the timer is armed for, in the server's time.
	armed     bool
	at        int64 // its next expiry
	period    int64 // zero: once
	ctrlReady bool  // set by poll
	sets      int   // timerfd_settime calls so far
}

// newWaiter returns a waiter for the daemon's socket ctrl; monoEpoch is
// CLOCK_MONOTONIC at (or just before) the origin of the times given to
// arm, so that the timer never expires before the time asked.
func newWaiter(ctrl int, monoEpoch int64) (*waiter, error) {
	w := &waiter{ctrl: ctrl, timer: -1, monoEpoch: monoEpoch}
	var err error
	w.timer, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating the advert timer: %w", err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		unix.Close(w.timer)
		return nil, fmt.Errorf("creating the sender's epoll instance: %w", err)
	}
	for _, ev := range []unix.EpollEvent{
		{Events: unix.EPOLLIN, Fd: int32(ctrl)},
		{Events: unix.EPOLLIN, Fd: int32(w.timer)},
	} {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(ev.Fd), &ev); err != nil {
			unix.Close(epfd)
			unix.Close(w.timer)
			return nil, fmt.Errorf("adding to the sender's epoll instance: %w", err)
		}
	}
	// Non-blocking, so that os.NewFile registers it with the poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(w.timer)
		return nil, fmt.Errorf("setting up the sender's epoll instance: %w", err)
	}
	w.ep = os.NewFile(uintptr(epfd), "sendproc-epoll")
	w.rc, err = w.ep.SyscallConn()
	if err != nil {
		w.close()
		return nil, fmt.Errorf("setting up the sender's epoll instance: %w", err)
	}
	return w, nil
}

// close releases the timerfd and the epoll instance.
func (w *waiter) close() {
	if w.ep != nil {
		w.ep.Close()
	}
	if w.timer >= 0 {
		unix.Close(w.timer)
	}
}

// arm makes the timer expire at at (the server's time; now is the time
// now), and then every period if period is not zero; ok false disarms
// it. A timer already armed for it is left alone: a repeating one that
// expired since it was armed is on the same grid.
func (w *waiter) arm(now, at, period int64, ok bool) error {
	if !ok {
		if !w.armed {
			return nil
		}
		w.armed = false
		return w.settime(unix.ItimerSpec{})
	}
	if w.armed && w.period > 0 && now >= w.at {
		w.at += ((now-w.at)/w.period + 1) * w.period
	}
	if w.armed && w.at == at && w.period == period && (period > 0 || at > now) {
		return nil
	}
	w.armed, w.at, w.period = true, at, period
	return w.settime(unix.ItimerSpec{Value: unix.NsecToTimespec(w.monoEpoch + at), Interval: unix.NsecToTimespec(period)})
}

func (w *waiter) settime(spec unix.ItimerSpec) error {
	w.sets++
	w.spec = spec
	_, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(w.timer), unix.TFD_TIMER_ABSTIME,
		uintptr(unsafe.Pointer(&w.spec)), 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("arming the advert timer: %w", e)
	}
	return nil
}

// run calls step in the poller until it returns done: step runs, then
// (unless done) the goroutine parks until the epoll instance has an event
// (the socket readable: ctrlReady; or the timer expired), and step runs
// again. The whole loop runs in one RawConn.Read, so that no readiness
// the poller saw between two steps is dropped, and each wake-up costs
// one look at the epoll instance.
func (w *waiter) run(step func() (done bool, err error)) error {
	var err error
	rerr := w.rc.Read(func(epfd uintptr) bool {
		for {
			var done bool
			if done, err = step(); done || err != nil {
				return true
			}
			var n int
			if n, err = w.poll(epfd); err != nil {
				return true
			}
			if n == 0 {
				return false // park until the poller says it is readable
			}
		}
	})
	if rerr != nil {
		return fmt.Errorf("waiting for the daemon: %w", rerr)
	}
	return err
}

// poll looks at the epoll instance epfd (not w.ep.Fd(), which would make
// it blocking) without blocking, sets ctrlReady and returns how many
// events there were. A raw system call: it never blocks.
func (w *waiter) poll(epfd uintptr) (int, error) {
	w.ctrlReady = false
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&w.evs[0])),
			uintptr(len(w.evs)), 0, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return 0, fmt.Errorf("waiting for the daemon: %w", e)
		}
		for _, ev := range w.evs[:r] {
			switch int(ev.Fd) {
			case w.ctrl:
				w.ctrlReady = true
			case w.timer:
				// Clear its count of expirations.
				var count [8]byte
				_, _, _ = unix.RawSyscall(unix.SYS_READ, uintptr(w.timer), uintptr(unsafe.Pointer(&count[0])), uintptr(len(count)))
			}
		}
		return int(r), nil
	}
}
