package lab

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/bench/loadgen"
)

// TestLabSmoke builds a lab, checks its sysctls, echoes bytes from the
// client and from the proxy host to a server in the server namespace, and
// checks that Close removes every namespace. All traffic stays inside the
// lab's namespaces (the root namespace may route 10.x to a real network).
func TestLabSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			l.Close()
		}
	})

	for _, h := range l.Hosts() {
		var reuse, ports string
		err := l.Do(h, func() error {
			b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_tw_reuse")
			reuse = strings.TrimSpace(string(b))
			if err != nil {
				return err
			}
			b, err = os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
			ports = strings.Join(strings.Fields(string(b)), " ")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if reuse != "1" || ports != "1024 65535" {
			t.Errorf("%s: tcp_tw_reuse=%q ip_local_port_range=%q", h.Netns, reuse, ports)
		}
	}

	// An echo server in the server namespace, dialled from the client.
	var ln net.Listener
	if err := l.Do(l.Server, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(l.Server.Addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	echoCtx, stopEcho := context.WithCancel(ctx)
	echoDone := make(chan error, 1)
	go func() { echoDone <- loadgen.Echo(echoCtx, ln) }()
	defer func() {
		stopEcho()
		if err := <-echoDone; err != nil {
			t.Errorf("echo: %v", err)
		}
	}()

	for _, from := range []Host{l.Client, l.Proxy} {
		var c net.Conn
		if err := l.Do(from, func() (err error) {
			c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			return err
		}); err != nil {
			t.Fatalf("dialing from %s: %v", from.Netns, err)
		}
		if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != from.Addr {
			t.Errorf("dial from %s used source %s, want %s", from.Netns, got, from.Addr)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := []byte("hello through the bridge")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
			t.Fatalf("echo from %s: %q, %v", from.Netns, got, err)
		}
		c.Close()
	}

	names := []string{l.Bridge, l.Client.Netns, l.Proxy.Netns, l.Server.Netns}
	stopEcho()
	if err := <-echoDone; err != nil {
		t.Errorf("echo: %v", err)
	}
	echoDone <- nil
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	for _, n := range names {
		if _, err := os.Stat("/run/netns/" + n); !os.IsNotExist(err) {
			t.Errorf("namespace %s still exists after Close (stat: %v)", n, err)
		}
	}
}
