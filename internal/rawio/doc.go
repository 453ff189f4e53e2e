// Package rawio makes the few system calls of an idle daemon's loops
// (reading a datagram from a socket that does not block, sending one on
// such a socket) as raw system calls.
//
// An ordinary system call of a Go program passes through the runtime's
// system-call entry. When every processor of the runtime is idle, its
// monitor thread (sysmon) sleeps until the next timer, and that entry wakes
// it; it then polls, every 20 microseconds at first, until the processors
// are idle again. A daemon that wakes a few times a second, or at every
// VRRP advert it hears, pays several thread wake-ups per wake-up of its own
// for nothing. A raw system call does not pass through that entry: the
// monitor sleeps on. The price is that the runtime does not know the thread
// is in the kernel, so a raw call must never block: every function here is
// only for descriptors in non-blocking mode or with MSG_DONTWAIT, and
// returns EAGAIN rather than wait.
//
// The functions retry EINTR, allocate nothing, and return the errno as a
// unix.Errno (nil for none), so callers compare with unix.EAGAIN.
package rawio
