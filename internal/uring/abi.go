package uring

// The kernel's ABI (include/uapi/linux/io_uring.h), the parts used here.

// Opcodes of a submission queue entry.
const (
	OpNop     uint8 = 0
	OpPollAdd uint8 = 6
	OpSendmsg uint8 = 9
	OpTimeout uint8 = 11
	OpRead    uint8 = 22
)

// Flags of a submission queue entry (SQE.Flags).
const (
	// FlagLink makes the next entry wait for this one, and fail with
	// ECANCELED if this one fails.
	FlagLink uint8 = 1 << 2
	// FlagHardLink makes the next entry wait for this one whatever its
	// result.
	FlagHardLink uint8 = 1 << 3
	// FlagSkipSuccess posts no completion when the entry succeeds.
	FlagSkipSuccess uint8 = 1 << 6
)

// Flags of a timeout (SQE.OpFlags of OpTimeout).
const (
	// TimeoutAbs: the time is absolute, of CLOCK_MONOTONIC.
	TimeoutAbs uint32 = 1 << 0
	// TimeoutETimeSuccess: expiring is success (result 0, not ETIME), so
	// that a chain linked to the timeout goes on.
	TimeoutETimeSuccess uint32 = 1 << 5
)

// Flags of cancellation (SyncCancel).
const (
	cancelAll uint32 = 1 << 0
)

const (
	setupSubmitAll    = 1 << 7 // go on submitting after an entry fails
	setupSingleIssuer = 1 << 12
	setupDeferTaskrun = 1 << 13

	featSingleMmap = 1 << 0

	enterGetEvents = 1 << 0

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	registerSyncCancel = 24
)

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqringOffsets is struct io_sqring_offsets.
type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// cqringOffsets is struct io_cqring_offsets.
type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// SQE is a submission queue entry, struct io_uring_sqe. Get one from
// Ring.Next (zeroed), fill it, and Submit.
type SQE struct {
	Opcode   uint8
	Flags    uint8
	IOPrio   uint16
	FD       int32
	Off      uint64 // also addr2; for a timeout, the completion count
	Addr     uint64 // a pointer (a timespec, a msghdr)
	Len      uint32
	OpFlags  uint32 // timeout_flags, msg_flags, poll32_events
	UserData uint64
	bufIndex uint16
	_        uint16
	_        int32
	_        [2]uint64
}

// CQE is a completion queue entry, struct io_uring_cqe: the UserData of
// the entry it completes and its result (a negative errno on failure).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// syncCancelReg is struct io_uring_sync_cancel_reg.
type syncCancelReg struct {
	addr    uint64
	fd      int32
	flags   uint32
	timeout Timespec
	opcode  uint8
	_       [7]uint8
	_       [3]uint64
}

// Timespec is struct __kernel_timespec.
type Timespec struct {
	Sec, Nsec int64
}

// NsecTimespec returns the Timespec of ns nanoseconds.
func NsecTimespec(ns int64) Timespec {
	return Timespec{Sec: ns / 1e9, Nsec: ns % 1e9}
}
