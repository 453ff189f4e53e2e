package uring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Prep functions fill an entry from Next for one operation. What a
// pointer argument points to must not move and must stay reachable: the
// kernel reads a timespec and a msghdr when the entry is submitted, and
// the data a msghdr's iovecs point to when the send runs (for a linked
// send, at its turn). Heap memory the caller keeps a reference to will
// do (the Go heap does not move objects); a goroutine's stack will not.

// PrepTimeout makes sqe a timeout at ts: absolute on CLOCK_MONOTONIC
// with TimeoutAbs in flags; TimeoutETimeSuccess lets a linked chain go
// on when it expires.
func PrepTimeout(sqe *SQE, ts *Timespec, flags uint32) {
	sqe.Opcode = OpTimeout
	sqe.FD = -1
	sqe.Addr = uint64(uintptr(unsafe.Pointer(ts)))
	sqe.Len = 1
	sqe.OpFlags = flags
}

// PrepSendmsg makes sqe a sendmsg(2) of msg on fd with flags.
func PrepSendmsg(sqe *SQE, fd int, msg *unix.Msghdr, flags uint32) {
	sqe.Opcode = OpSendmsg
	sqe.FD = int32(fd)
	sqe.Addr = uint64(uintptr(unsafe.Pointer(msg)))
	sqe.Len = 1
	sqe.OpFlags = flags
}

// PrepPollAdd makes sqe a one-shot poll of fd for events (unix.POLLIN,
// ...): it completes with the events that came.
func PrepPollAdd(sqe *SQE, fd int, events uint32) {
	sqe.Opcode = OpPollAdd
	sqe.FD = int32(fd)
	sqe.OpFlags = events
}

// PrepNop makes sqe a no-op: in a chain, a completion posted once the
// entries before it are done.
func PrepNop(sqe *SQE) {
	sqe.Opcode = OpNop
	sqe.FD = -1
}

// PrepRead makes sqe a read(2) of fd into buf, at the file's position
// (for a descriptor without one, such as a timerfd, its next value). On
// a descriptor that would block (not O_NONBLOCK) the kernel waits for it
// to be readable without any thread of the process, and goes on with the
// chain then; on an O_NONBLOCK one it fails with EAGAIN instead.
func PrepRead(sqe *SQE, fd int, buf []byte) {
	sqe.Opcode = OpRead
	sqe.FD = int32(fd)
	sqe.Off = ^uint64(0)
	if len(buf) > 0 {
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	sqe.Len = uint32(len(buf))
}
