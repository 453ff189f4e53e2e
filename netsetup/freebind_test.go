package netsetup

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestListenFreebindLoopback checks, without root, that the option is set
// on IPv4 and IPv6 listeners and that they work. Binding a non-local
// address is tested in a namespace (TestListenFreebindNetns).
func TestListenFreebindLoopback(t *testing.T) {
	tests := []struct {
		addr         string
		level, value int
	}{
		{"127.0.0.1:0", unix.SOL_IP, unix.IP_FREEBIND},
		{"[::1]:0", unix.SOL_IPV6, unix.IPV6_FREEBIND},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ln, err := ListenFreebind(context.Background(), tt.addr)
			if err != nil {
				if tt.level == unix.SOL_IPV6 {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatalf("ListenFreebind(%s): %v", tt.addr, err)
			}
			defer ln.Close()
			rc, err := ln.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var v int
			var gerr error
			if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), tt.level, tt.value) }); err != nil {
				t.Fatal(err)
			}
			if gerr != nil || v != 1 {
				t.Fatalf("freebind option = %d, %v; want 1", v, gerr)
			}
			accepted := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					c.Close()
				}
				accepted <- err
			}()
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatalf("dialing %s: %v", ln.Addr(), err)
			}
			c.Close()
			if err := <-accepted; err != nil {
				t.Fatalf("accepting: %v", err)
			}
		})
	}
}

func TestListenFreebindBadAddress(t *testing.T) {
	if ln, err := ListenFreebind(context.Background(), "not an address"); err == nil {
		ln.Close()
		t.Fatal("ListenFreebind(bad) = nil error")
	}
}
