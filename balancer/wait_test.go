package balancer

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWaitMode: a loop holds its processor only after a wait that returned
// events, and then for at most holdMillis; a wait that does not block
// never goes through the runtime.
func TestWaitMode(t *testing.T) {
	for _, c := range []struct {
		busy    bool
		ms      int
		hold    bool
		timeout int
	}{
		{false, -1, false, -1},
		{false, 250, false, 250},
		{false, 0, true, 0},
		{true, 0, true, 0},
		{true, -1, true, holdMillis},
		{true, 1000, true, holdMillis},
		{true, holdMillis, true, holdMillis},
		{true, 2, true, 2},
	} {
		hold, timeout := waitMode(c.busy, c.ms)
		if hold != c.hold || timeout != c.timeout {
			t.Errorf("waitMode(%v, %d) = %v, %d; want %v, %d", c.busy, c.ms, hold, timeout, c.hold, c.timeout)
		}
	}
}

// TestHoldingWait: the raw wait returns a ready event at once, and times
// out after its timeout with none.
func TestHoldingWait(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(evfd)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	start := time.Now()
	n, err := holdingWait(epfd, events, 20)
	for err == unix.EINTR {
		n, err = holdingWait(epfd, events, 20)
	}
	if err != nil || n != 0 {
		t.Fatalf("holdingWait with nothing ready = %d, %v; want 0, nil", n, err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("holdingWait returned after %v, before its 20 ms timeout", d)
	}
	one := [8]byte{1}
	if _, err := unix.Write(evfd, one[:]); err != nil {
		t.Fatal(err)
	}
	n, err = holdingWait(epfd, events, 5000)
	for err == unix.EINTR {
		n, err = holdingWait(epfd, events, 5000)
	}
	if err != nil || n != 1 || events[0].Fd != int32(evfd) || events[0].Events&unix.EPOLLIN == 0 {
		t.Fatalf("holdingWait with the eventfd ready = %d, %v, %+v; want its EPOLLIN", n, err, events[0])
	}
}
