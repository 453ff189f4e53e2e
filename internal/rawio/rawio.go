package rawio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read reads one datagram, or what waits of a stream, from fd into b
// (read(2)). fd must be non-blocking: nothing waiting is unix.EAGAIN. An
// empty b reads nothing and returns 0, nil.
func Read(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// Send sends b on the connected socket fd with MSG_DONTWAIT and
// MSG_NOSIGNAL (send(2)): a full socket is unix.EAGAIN, a closed peer
// unix.EPIPE (no SIGPIPE). An empty b sends an empty datagram.
func Send(fd int, b []byte) error {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(p), uintptr(len(b)),
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}
