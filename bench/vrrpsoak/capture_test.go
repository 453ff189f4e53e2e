package vrrpsoak

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/vrrp"
)

func TestGapScan(t *testing.T) {
	m, o := [4]byte{10, 77, 0, 1}, [4]byte{10, 77, 0, 2}
	ms := int64(time.Millisecond)
	c := &Capture{}
	add := func(at int64, src [4]byte, prio uint8) {
		c.adverts = append(c.adverts, Advert{At: at, Src: src, Priority: prio})
	}
	var g gapScan
	if gap, end := g.scan(c, m); gap != 0 || end != 0 {
		t.Fatalf("empty capture: gap %v ending %d", gap, end)
	}
	add(10*ms, m, 150)
	add(20*ms, m, 150)
	add(25*ms, o, 100) // another sender's advert does not end the master's gap
	add(50*ms, m, 150)
	if gap, end := g.scan(c, m); gap != 30*time.Millisecond || end != 50*ms {
		t.Fatalf("first scan: gap %v ending %d, want 30ms ending %d", gap, end, 50*ms)
	}
	// The next scan starts from the last advert of the master seen.
	add(60*ms, m, 0) // priority 0 (resigning) is no advert of a master
	add(140*ms, m, 150)
	add(150*ms, m, 150)
	if gap, end := g.scan(c, m); gap != 90*time.Millisecond || end != 140*ms {
		t.Fatalf("second scan: gap %v ending %d, want 90ms ending %d", gap, end, 140*ms)
	}
	if gap, end := g.scan(c, m); gap != 0 || end != 0 {
		t.Fatalf("nothing new: gap %v ending %d", gap, end)
	}
	// A scan made now skips what was captured before (a window that
	// starts late), and measures its first gap from the master's last
	// advert.
	n := newGapScan(c, m)
	add(155*ms, o, 100)
	add(190*ms, m, 150)
	if gap, end := n.scan(c, m); gap != 40*time.Millisecond || end != 190*ms {
		t.Fatalf("a scan started late: gap %v ending %d, want 40ms ending %d", gap, end, 190*ms)
	}
}

// TestCaptureCloseWhilePacketsFlow: Close returns while packets keep
// coming faster than the reader's receive timeout (200 ms), as adverts at
// 100 ms do. The packets (IP protocol 112) go to 127.0.0.1 on loopback.
func TestCaptureCloseWhilePacketsFlow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (packet and raw sockets)")
	}
	c, err := openCapture("lo")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.ProtocolNumber)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	defer unix.Close(fd)
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		to := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				_ = unix.Sendto(fd, []byte("not an advert"), 0, to)
			}
		}
	}()
	defer func() {
		close(stop)
		<-sent
	}()
	seen := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.bad
	}
	for deadline := time.Now().Add(5 * time.Second); seen() == 0; {
		if time.Now().After(deadline) {
			c.Close()
			t.Fatal("the capture saw none of the packets sent in 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return within 3 s while packets kept coming")
	}
}
