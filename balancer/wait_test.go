package balancer

import (
	"bytes"
	"runtime"
	"sync"
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

// TestHolds: a Holds gives out its slots and no more, takes them back, and
// the zero value and a negative size give none.
func TestHolds(t *testing.T) {
	h := NewHolds(2)
	for i := range 2 {
		if !h.take() {
			t.Fatalf("a Holds of 2 refused take %d", i+1)
		}
	}
	if h.take() {
		t.Fatal("a Holds of 2 gave a third slot")
	}
	h.give()
	if !h.take() {
		t.Fatal("a slot given back was not taken again")
	}
	var zero Holds
	if zero.take() || NewHolds(-1).take() || NewHolds(0).take() {
		t.Error("a Holds with no slot gave one")
	}
}

// TestHoldsSharedByListeners: two listeners given one Holds both use it,
// a listener without one makes its own with a slot fewer than the
// runtime's processors, and once busy sessions through both are idle
// every slot is back.
func TestHoldsSharedByListeners(t *testing.T) {
	holds := NewHolds(1)
	srv := newServer(t, "127.0.0.2", echo)
	var wg sync.WaitGroup
	for i := range 2 {
		cfg := baseConfig(backendsOf(srv))
		cfg.Holds = holds
		r := startListener(t, cfg, 2)
		if r.holds != holds {
			t.Fatalf("listener %d: its loops use another Holds than Config.Holds", i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := r.dial(t)
			defer c.Close()
			msg := []byte("AMQP\x00\x00\x09\x01")
			for range 300 {
				if got, err := roundTrip(c, msg); err != nil || !bytes.Equal(got, msg) {
					t.Errorf("round trip through listener %d: %q, %v", i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// A loop keeps its slot through a held wait after its last events,
	// holdMillis at most.
	eventually(t, 5*time.Second, "the slot to be free again", func() bool { return holds.free.Load() == 1 })
	if f := holds.free.Load(); f != 1 {
		t.Errorf("after the sessions: %d free slots of 1", f)
	}
	own := startListener(t, baseConfig(backendsOf(srv)), 1)
	if own.holds == nil || own.holds == holds || own.holds.free.Load() != int32(max(runtime.GOMAXPROCS(0)-1, 0)) {
		t.Errorf("a listener without Config.Holds: %+v, want its own with %d slots", own.holds, runtime.GOMAXPROCS(0)-1)
	}
}
