// Package uring is the little of Linux's io_uring (io_uring_setup(2),
// io_uring_enter(2), io_uring_register(2)) that a process needs to queue
// timed work in the kernel: a submission and a completion queue in
// memory shared with the kernel, submission queue entries for timeouts,
// linked sends, polls and no-ops, and synchronous cancellation.
//
// A Ring is not safe for concurrent use: one goroutine owns it, locked
// to the OS thread that created it (runtime.LockOSThread before New):
// the ring has that one issuer, and the kernel runs the ring's deferred
// work (the next step of a linked chain) only while that thread is in
// one of the ring's calls.
//
// It is pure Go over the system calls; the layouts are those of
// include/uapi/linux/io_uring.h. Kernels that lack io_uring, or where it
// is turned off (the kernel.io_uring_disabled sysctl, a seccomp filter),
// make New fail: callers keep a way of working without it.
package uring
