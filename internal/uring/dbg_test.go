package uring

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func vcs(t *testing.T) string {
	b, _ := os.ReadFile("/proc/thread-self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "voluntary_ctxt_switches") {
			return l
		}
	}
	return ""
}

func TestDbgWakes(t *testing.T) {
	runtime.LockOSThread()
	r, _ := New(256)
	defer r.Close()
	tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	start := mono(t)
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(start + int64(10*time.Millisecond)), Interval: unix.NsecToTimespec(int64(10 * time.Millisecond))}
	if err := unix.TimerfdSettime(tfd, unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for i := range 50 {
		sqe, _ := r.Next()
		PrepRead(sqe, tfd, buf)
		sqe.Flags = FlagLink | FlagSkipSuccess
		sqe.UserData = 1
		sqe, _ = r.Next()
		PrepNop(sqe)
		sqe.Flags = FlagHardLink | FlagSkipSuccess
		if i == 49 {
			sqe.Flags = 0
		}
		sqe.UserData = 2
	}
	t.Log(r.Free())
	r.Submit()
	t.Log(vcs(t))
	waits, eintr := 0, 0
	var got []CQE
	for {
		n := r.Completions(func(c CQE) { got = append(got, c) })
		if n > 0 {
			break
		}
		err := r.Wait()
		waits++
		if err != nil {
			eintr++
		}
	}
	t.Log(vcs(t), waits, eintr, got, time.Duration(mono(t)-start))
}
