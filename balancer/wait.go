package balancer

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// A loop waits for its events in one of two ways.
//
// Once a wait has returned events, more are likely to follow at once (the
// next frame of an AMQP connection, its peer's answer), so the next wait is
// a raw epoll_wait for at most holdMillis: the Go runtime does not see the
// loop enter a system call, so the loop keeps its processor (P) through the
// wait. Through the runtime's system-call path instead, the runtime's
// monitor thread (sysmon) finds the processor in a system call, takes it
// away and hands it on or parks it, and the loop has to get one back when
// its events come: a few thousand extra thread wake-ups a second at ten
// thousand AMQP messages a second, about a fifth of the proxy's CPU per
// message (bench/README.md). A loop that has waited holdMillis with no
// event waits through the runtime's blocking path again, so an idle loop
// holds no processor; the daemon gives the runtime one processor more than
// the listeners have event loops (daemon.GoProcs), so the daemon's other
// goroutines (checks, VRRP, the control socket) find one free while every
// loop holds its own.
//
// A held processor is taken back as any running goroutine's is: the
// runtime's preemption signal interrupts the raw wait (EINTR), and the loop
// yields at its next function call, so a garbage collection's stop of the
// world waits for no held wait.

// holdMillis is the longest wait that keeps the loop's processor.
const holdMillis = 5

// waitMode returns how a loop whose last wait returned events (busy) waits
// with timeout ms (epoll_wait's: -1 forever, 0 not at all): holding its
// processor (hold) and for how long.
func waitMode(busy bool, ms int) (hold bool, timeout int) {
	switch {
	case ms == 0:
		return true, 0 // does not block: no reason to go through the runtime
	case !busy:
		return false, ms
	case ms < 0 || ms > holdMillis:
		return true, holdMillis
	default:
		return true, ms
	}
}

// wait waits for the loop's events as waitMode says, into events.
func (lp *loop) wait(events []unix.EpollEvent, busy bool) (int, error) {
	hold, ms := waitMode(busy, lp.waitMillis())
	if !hold {
		return unix.EpollWait(lp.epfd, events, ms)
	}
	return holdingWait(lp.epfd, events, ms)
}

// holdingWait is epoll_wait(2) as a raw system call, which keeps the
// calling goroutine's processor of the Go runtime while it blocks.
func holdingWait(epfd int, events []unix.EpollEvent, ms int) (int, error) {
	r, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(ms), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
