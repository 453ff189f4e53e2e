package uring

import (
	"errors"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"io_uring_params", unsafe.Sizeof(params{}), 120},
		{"io_uring_sqe", unsafe.Sizeof(SQE{}), 64},
		{"io_uring_cqe", unsafe.Sizeof(CQE{}), 16},
		{"io_uring_sync_cancel_reg", unsafe.Sizeof(syncCancelReg{}), 64},
		{"sqe.user_data offset", unsafe.Offsetof(SQE{}.UserData), 32},
		{"sqe.len offset", unsafe.Offsetof(SQE{}.Len), 24},
		{"params.sq_off offset", unsafe.Offsetof(params{}.sqOff), 40},
		{"params.cq_off offset", unsafe.Offsetof(params{}.cqOff), 80},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d bytes, want %d", c.name, c.got, c.want)
		}
	}
}

func newRing(t *testing.T) *Ring {
	t.Helper()
	// The ring's one thread, until the test ends.
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	r, err := New(8)
	if err != nil {
		t.Skipf("no io_uring here: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mono(t *testing.T) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano()
}

// waitCQE waits for one completion.
func waitCQE(t *testing.T, r *Ring) CQE {
	t.Helper()
	for {
		var got []CQE
		r.Completions(func(c CQE) { got = append(got, c) })
		if len(got) > 1 {
			t.Fatalf("completions %+v, want one", got)
		}
		if len(got) == 1 {
			return got[0]
		}
		if err := r.Wait(); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatal(err)
		}
	}
}

// An absolute timeout with TimeoutETimeSuccess and FlagSkipSuccess,
// soft-linked to a no-op: the chain goes on when it expires, only the
// no-op completes, and not before the time.
func TestLinkedTimeout(t *testing.T) {
	r := newRing(t)
	at := mono(t) + int64(20*time.Millisecond)
	ts := NsecTimespec(at)
	sqe, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	PrepTimeout(sqe, &ts, TimeoutAbs|TimeoutETimeSuccess)
	sqe.Flags = FlagLink | FlagSkipSuccess
	sqe.UserData = 1
	if sqe, err = r.Next(); err != nil {
		t.Fatal(err)
	}
	PrepNop(sqe)
	sqe.UserData = 2
	if n, err := r.Submit(); err != nil || n != 2 {
		t.Fatalf("Submit = %d, %v", n, err)
	}
	c := waitCQE(t, r)
	if now := mono(t); now < at {
		t.Errorf("completed %v before the timeout", time.Duration(at-now))
	}
	if c.UserData != 2 || c.Res != 0 {
		t.Errorf("completion %+v, want the no-op's (2) with 0", c)
	}
}

// SyncCancel cancels a timeout and what is linked to it: the timeout
// completes with ECANCELED, the no-op after it is dropped with it.
func TestSyncCancel(t *testing.T) {
	r := newRing(t)
	ts := NsecTimespec(mono(t) + int64(time.Hour))
	sqe, _ := r.Next()
	PrepTimeout(sqe, &ts, TimeoutAbs|TimeoutETimeSuccess)
	sqe.Flags = FlagLink | FlagSkipSuccess
	sqe.UserData = 7
	sqe, _ = r.Next()
	PrepNop(sqe)
	sqe.Flags = FlagSkipSuccess
	sqe.UserData = 8
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	n, err := r.SyncCancel(7)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("SyncCancel = %d, want 1 (the timeout)", n)
	}
	var got []CQE
	r.Completions(func(c CQE) { got = append(got, c) })
	if len(got) != 1 || got[0].UserData != 7 || got[0].Res != -int32(unix.ECANCELED) {
		t.Fatalf("completions right after SyncCancel: %+v, want the timeout's (7) with ECANCELED", got)
	}
	for _, ud := range []uint64{7, 8} {
		if n, err := r.SyncCancel(ud); err != nil || n != 0 {
			t.Errorf("SyncCancel(%d) after: %d, %v; want 0, nil", ud, n, err)
		}
	}
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	if n := r.Completions(func(c CQE) { t.Errorf("a completion after: %+v", c) }); n != 0 {
		t.Errorf("%d completions after", n)
	}
}

// Next reports a full queue.
func TestFull(t *testing.T) {
	r := newRing(t)
	for i := range len(r.sqes) {
		if _, err := r.Next(); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if _, err := r.Next(); !errors.Is(err, ErrFull) {
		t.Fatalf("Next on a full queue: %v, want ErrFull", err)
	}
	for i := range r.sqes {
		PrepNop(&r.sqes[i])
		r.sqes[i].Flags = FlagSkipSuccess
	}
	if n, err := r.Submit(); err != nil || n != len(r.sqes) {
		t.Fatalf("Submit = %d, %v", n, err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatalf("Next after Submit: %v", err)
	}
}
