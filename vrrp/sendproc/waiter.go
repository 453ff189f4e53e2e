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
//
// A waiter is owned by Serve's goroutine.
type waiter struct {
	ctrl  int      // the daemon's socket (not owned)
	timer int      // the timerfd, owned
	ep    *os.File // the epoll instance, owned; registered with the poller
	rc    syscall.RawConn
	evs   [2]unix.EpollEvent
	spec  unix.ItimerSpec
	// Set by wait: what was ready.
	ctrlReady, timerReady bool
	n                     int   // epoll_wait's result in wait's callback
	err                   error // epoll_wait's error in wait's callback
	waitFn                func(uintptr) bool
}

func newWaiter(ctrl int) (*waiter, error) {
	w := &waiter{ctrl: ctrl, timer: -1}
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
	for _, fd := range []int{ctrl, w.timer} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
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
	w.waitFn = w.poll
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

// arm sets the timer to expire in d nanoseconds (at least 1: a zero
// it_value would disarm it); ok false disarms it.
func (w *waiter) arm(d int64, ok bool) error {
	w.spec = unix.ItimerSpec{}
	if ok {
		w.spec.Value = unix.NsecToTimespec(max(d, 1))
	}
	_, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(w.timer), 0, uintptr(unsafe.Pointer(&w.spec)), 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("arming the advert timer: %w", e)
	}
	return nil
}

// wait parks the goroutine until the socket or the timer is ready, then
// sets ctrlReady and timerReady (and clears the timer's count).
func (w *waiter) wait() error {
	w.ctrlReady, w.timerReady = false, false
	if err := w.rc.Read(w.waitFn); err != nil {
		return fmt.Errorf("waiting for the daemon: %w", err)
	}
	if w.err != nil {
		return fmt.Errorf("waiting for the daemon: %w", w.err)
	}
	for _, ev := range w.evs[:w.n] {
		switch int(ev.Fd) {
		case w.ctrl:
			w.ctrlReady = true
		case w.timer:
			w.timerReady = true
			var count [8]byte
			_, _, _ = unix.RawSyscall(unix.SYS_READ, uintptr(w.timer), uintptr(unsafe.Pointer(&count[0])), 8)
		}
	}
	return nil
}

// poll is the callback of wait's RawConn.Read: it looks at the epoll
// instance (epfd; not w.ep.Fd(), which would make it blocking) without
// blocking and returns false (park until the poller
// says it is readable) when nothing is ready. A raw system call: it
// never blocks.
func (w *waiter) poll(epfd uintptr) bool {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(&w.evs[0])),
			uintptr(len(w.evs)), 0, 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			w.n, w.err = 0, e
			return true
		}
		w.n, w.err = int(r), nil
		return r > 0
	}
}
