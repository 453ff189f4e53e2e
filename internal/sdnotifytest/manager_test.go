package sdnotifytest

import (
	"net"
	"slices"
	"strconv"
	"testing"
	"time"
)

// cleanupTB is a testing.TB whose cleanups the test runs itself.
type cleanupTB struct {
	testing.TB
	cleanups []func()
}

func (c *cleanupTB) Cleanup(f func()) { c.cleanups = append(c.cleanups, f) }

func (c *cleanupTB) runCleanups() {
	for _, f := range slices.Backward(c.cleanups) {
		f()
	}
}

func TestCleanupWithFullChannel(t *testing.T) {
	tb := &cleanupTB{TB: t}
	m := Listen(tb, "")
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: m.Path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One more datagram than the channel holds: the reader takes it and
	// has nowhere to put it.
	total := cap(m.msgs) + 1
	if err := c.SetWriteDeadline(time.Now().Add(Wait)); err != nil {
		t.Fatal(err)
	}
	for i := range total {
		if _, err := c.Write([]byte("STATUS=" + strconv.Itoa(i))); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
	}
	for deadline := time.Now().Add(Wait); len(m.msgs) < cap(m.msgs); {
		if time.Now().After(deadline) {
			t.Fatalf("%d datagrams in the channel after %v, want %d", len(m.msgs), Wait, cap(m.msgs))
		}
		time.Sleep(time.Millisecond)
	}
	// Let the reader take the last datagram from the socket.
	time.Sleep(10 * time.Millisecond)

	cleaned := make(chan struct{})
	go func() {
		defer close(cleaned)
		tb.runCleanups()
	}()
	select {
	case <-cleaned:
	case <-time.After(Wait):
		// Unblock the reader so that the cleanup can return, then fail.
		for range m.msgs {
		}
		<-cleaned
		t.Fatalf("cleanup did not return within %v with %d unread datagrams", Wait, total)
	}
}
