package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring is an io_uring instance: its descriptor and the queues it shares
// with the kernel. Its methods are for one goroutine (see the package
// documentation); Close releases it.
type Ring struct {
	fd int

	sqMem, cqMem, sqeMem []byte // the mappings
	single               bool   // cqMem is sqMem (one mapping)

	sqHead, sqTail *uint32 // shared: the kernel moves head, Ring moves tail
	sqMask         uint32
	sqArray        []uint32
	sqes           []SQE
	// queued counts the entries filled by Next and not yet submitted.
	queued uint32

	cqHead, cqTail *uint32 // shared: the kernel moves tail, Ring moves head
	cqMask         uint32
	cqes           []CQE
}

// ErrFull is Next's error when the submission queue has no free entry:
// Submit first.
var ErrFull = errors.New("submission queue full")

// New sets up a ring with at least entries submission queue entries
// (rounded up to a power of two by the kernel) and twice as many
// completion queue entries. The calling thread is the ring's only one
// (IORING_SETUP_SINGLE_ISSUER): lock the goroutine to it first. The
// kernel runs the ring's deferred work, such as the next step of a
// linked chain, only while that thread is in one of the ring's calls
// (IORING_SETUP_DEFER_TASKRUN), which keeps the steps of a chain in one
// wake-up of a thread waiting in Wait.
func New(entries uint32) (*Ring, error) {
	var p params
	p.flags = setupSubmitAll | setupSingleIssuer | setupDeferTaskrun
	fd, _, e := unix.RawSyscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("setting up io_uring: %w", e)
	}
	r := &Ring{fd: int(fd)}
	if err := r.mmap(&p); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Ring) mmap(p *params) error {
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(CQE{}))
	r.single = p.features&featSingleMmap != 0
	if r.single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	if r.sqMem, err = unix.Mmap(r.fd, offSQRing, sqSize, prot, flags); err != nil {
		return fmt.Errorf("mapping io_uring's submission queue: %w", err)
	}
	r.cqMem = r.sqMem
	if !r.single {
		if r.cqMem, err = unix.Mmap(r.fd, offCQRing, cqSize, prot, flags); err != nil {
			return fmt.Errorf("mapping io_uring's completion queue: %w", err)
		}
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(SQE{}))
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, sqeSize, prot, flags); err != nil {
		return fmt.Errorf("mapping io_uring's submission entries: %w", err)
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail = u32(r.sqMem, p.sqOff.head), u32(r.sqMem, p.sqOff.tail)
	r.sqMask = *u32(r.sqMem, p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(u32(r.sqMem, p.sqOff.array), p.sqEntries)
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead, r.cqTail = u32(r.cqMem, p.cqOff.head), u32(r.cqMem, p.cqOff.tail)
	r.cqMask = *u32(r.cqMem, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&r.cqMem[p.cqOff.cqes])), p.cqEntries)
	return nil
}

// Close unmaps the queues and closes the ring; the kernel cancels what
// is still queued.
func (r *Ring) Close() error {
	if r.fd < 0 {
		return nil
	}
	for _, m := range [][]byte{r.sqeMem, r.sqMem} {
		if m != nil {
			_ = unix.Munmap(m)
		}
	}
	if r.cqMem != nil && !r.single {
		_ = unix.Munmap(r.cqMem)
	}
	r.sqeMem, r.cqMem, r.sqMem = nil, nil, nil
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// FD returns the ring's descriptor: it polls readable while completions
// wait.
func (r *Ring) FD() int { return r.fd }

// Next returns the next free submission queue entry, zeroed, or ErrFull.
// It is submitted by the next Submit or Wait.
func (r *Ring) Next() (*SQE, error) {
	head := atomic.LoadUint32(r.sqHead)
	tail := *r.sqTail + r.queued
	if tail-head >= uint32(len(r.sqes)) {
		return nil, ErrFull
	}
	i := tail & r.sqMask
	sqe := &r.sqes[i]
	*sqe = SQE{}
	r.sqArray[i] = i
	r.queued++
	return sqe, nil
}

// Free returns how many entries Next can give before a Submit.
func (r *Ring) Free() int {
	return len(r.sqes) - int(*r.sqTail+r.queued-atomic.LoadUint32(r.sqHead))
}

// Submit hands the entries filled since the last Submit to the kernel,
// without waiting; it returns how many it took.
func (r *Ring) Submit() (int, error) {
	return r.enter(0, false)
}

// Wait submits what is queued, then waits until at least one completion
// is there (or a signal interrupts the wait: unix.EINTR). The wait is a
// blocking system call: the Go runtime lends the goroutine's processor
// to others meanwhile.
func (r *Ring) Wait() error {
	_, err := r.enter(1, true)
	return err
}

func (r *Ring) enter(waitNr uint32, block bool) (int, error) {
	n := r.queued
	if n > 0 {
		atomic.StoreUint32(r.sqTail, *r.sqTail+n) // the kernel reads entries up to it
		r.queued = 0
	}
	// GETEVENTS also without waiting: the ring's deferred work (a
	// chain's next step) runs only then.
	var flags uintptr = enterGetEvents
	var got uintptr
	var e unix.Errno
	if block {
		got, _, e = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), uintptr(waitNr), flags, 0, 0)
	} else {
		got, _, e = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), uintptr(waitNr), flags, 0, 0)
	}
	if e != 0 {
		return 0, fmt.Errorf("entering io_uring: %w", e)
	}
	if uint32(got) < n {
		// SUBMIT_ALL: it stopped only at an entry it could not read;
		// the rest is dropped with it.
		return int(got), fmt.Errorf("entering io_uring: %d of %d entries submitted", got, n)
	}
	return int(got), nil
}

// Completions calls f with each completion there is, in order, and frees
// their room; it returns how many there were.
func (r *Ring) Completions(f func(CQE)) int {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		f(r.cqes[head&r.cqMask])
		n++
	}
	atomic.StoreUint32(r.cqHead, head)
	return n
}

// SyncCancel cancels every request whose UserData is userData and waits
// until they are done with; it returns how many there were. Requests
// linked after a cancelled one fail with ECANCELED, which their
// completions say (FlagSkipSuccess does not hide a failure). Work the
// kernel had already begun for such a request (a send due just now) is
// finished before it returns, and the completions are posted.
func (r *Ring) SyncCancel(userData uint64) (int, error) {
	reg := syncCancelReg{addr: userData, fd: -1, flags: cancelAll, timeout: Timespec{Sec: -1, Nsec: -1}}
	n, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerSyncCancel, uintptr(unsafe.Pointer(&reg)), 1, 0, 0)
	if e != 0 && e != unix.ENOENT {
		return 0, fmt.Errorf("cancelling io_uring requests: %w", e)
	}
	if e == unix.ENOENT {
		n = 0
	}
	// The ring defers its work to io_uring_enter: the completions of
	// what was cancelled are posted there.
	if _, err := r.enter(0, false); err != nil {
		return 0, err
	}
	return int(n), nil
}
