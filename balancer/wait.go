package balancer

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A loop waits for its events in one of two ways.
//
// Once a wait has returned events, more are likely to follow at once (the
// next frame of an AMQP connection, its peer's answer), so the next wait is
// a raw epoll_wait of at most holdMillis: the Go runtime does not see the
// loop enter a system call, so the loop keeps its processor (P) through the
// wait and gets on with the events at once when they come. Through the
// runtime's system-call path instead, measured on Go 1.26 with as many
// processors as loops, the runtime's monitor thread (sysmon) woke some four
// thousand times a second at ten thousand round trips a second, processors
// were handed between threads around the waits, and the proxy spent 1.1 to
// 1.6 times HAProxy's CPU per AMQP message (bench/README.md, "A busy loop
// keeps its processor while it waits").
//
// A loop that has waited holdMillis with no event, or whose wait a signal
// ended, waits through the runtime's blocking path again, so an idle loop
// holds no processor. A Holds bounds how many loops hold one at once: the
// daemon shares one among its listeners with one slot fewer than the
// runtime has processors, so its other goroutines (checks, VRRP, the
// control socket) always find one free; a loop finding no slot free waits
// through the runtime.
//
// A held processor is taken back as any running goroutine's is: the
// runtime's preemption signal interrupts the raw wait (EINTR) and the loop
// yields at its next function call, so a stop of the world for the garbage
// collector waits for no held wait (with asynchronous preemption turned off,
// GODEBUG=asyncpreemptoff=1, for up to holdMillis).

// holdMillis is the longest wait that keeps the loop's processor.
const holdMillis = 5

// Holds bounds how many event loops keep their processor of the Go runtime
// through a wait at once. The zero value has no slot: every wait goes
// through the runtime. Safe for concurrent use.
type Holds struct {
	free atomic.Int32
}

// NewHolds returns a Holds with n slots (none if n <= 0).
func NewHolds(n int) *Holds {
	h := new(Holds)
	h.free.Store(int32(max(n, 0)))
	return h
}

// take takes a slot, reporting false if none is free.
func (h *Holds) take() bool {
	for {
		n := h.free.Load()
		if n <= 0 {
			return false
		}
		if h.free.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// give gives back a slot taken by take.
func (h *Holds) give() { h.free.Add(1) }

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

// wait waits for the loop's events as waitMode says, into events, holding
// its processor only with a slot of the listener's Holds.
func (lp *loop) wait(events []unix.EpollEvent, busy bool) (int, error) {
	full := lp.waitMillis()
	hold, ms := waitMode(busy, full)
	switch {
	case hold && ms == 0:
		return holdingWait(lp.epfd, events, 0)
	case hold && lp.l.holds.take():
		n, err := holdingWait(lp.epfd, events, ms)
		lp.l.holds.give()
		return n, err
	default:
		return unix.EpollWait(lp.epfd, events, full)
	}
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
