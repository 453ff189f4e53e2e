package vrrp

import (
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetAdvertPriority: the option lands on the socket, and no privilege
// is needed for it (the daemon's unit drops all but a few capabilities).
func TestSetAdvertPriority(t *testing.T) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := setAdvertPriority(sc); err != nil {
		t.Fatal(err)
	}
	var prio int
	var gerr error
	if err := sc.Control(func(fd uintptr) {
		prio, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PRIORITY)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if prio != advertSocketPriority || prio > 6 {
		t.Errorf("SO_PRIORITY %d, want %d (at most 6, which needs no CAP_NET_ADMIN)", prio, advertSocketPriority)
	}
}
