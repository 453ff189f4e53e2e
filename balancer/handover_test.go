package balancer

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHandover: a successor inherits the listening socket of a running
// listener; while the old one stops, no connection is refused, its
// established session finishes its work, and the successor serves the new
// ones.
func TestHandover(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.GracefulTimeout = -1 // as a VIP-bound listener: the hand-over overrides it
	old := startListener(t, cfg, 2)
	cfg.Bind = old.Addr()
	established := old.dial(t)
	if _, err := roundTrip(established, []byte("before")); err != nil {
		t.Fatal(err)
	}

	// A client connecting every 2 ms throughout.
	var refused, served atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.DialTimeout("tcp", old.Addr().String(), time.Second)
			if err != nil {
				refused.Add(1)
			} else {
				if _, err := roundTrip(c, []byte("p")); err != nil {
					refused.Add(1)
				} else {
					served.Add(1)
				}
				c.Close()
			}
			time.Sleep(2 * time.Millisecond)
		}
	})

	f, err := old.ListeningFile()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	succ, err := NewListener(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := succ.Inherit(fd); err != nil {
		t.Fatal(err)
	}
	r := &runningListener{Listener: succ, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- succ.Run(ctx) }()
	<-succ.Ready()
	t.Cleanup(func() { r.stop(t) })
	if succ.Addr() != old.Addr() {
		t.Fatalf("successor on %s, want %s", succ.Addr(), old.Addr())
	}
	time.Sleep(50 * time.Millisecond)

	old.HandOver(5 * time.Second)
	stopped := make(chan struct{})
	go func() { old.stop(t); close(stopped) }()
	time.Sleep(100 * time.Millisecond)
	// The old listener no longer accepts but its session still works.
	if _, err := roundTrip(established, []byte("during")); err != nil {
		t.Fatalf("established session during the hand-over: %v", err)
	}
	before := succ.Snapshot().Total
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Errorf("%d of %d connections refused or broken during the hand-over", n, n+served.Load())
	}
	if succ.Snapshot().Total <= before {
		t.Errorf("the successor served no connection after the old listener stopped accepting")
	}
	select {
	case <-stopped:
		t.Fatal("the old listener stopped before its session ended")
	default:
	}
	established.Close()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the old listener did not stop after its last session ended")
	}
	t.Logf("%d connections served during the hand-over, none refused", served.Load())

	// Inherit refuses a socket bound elsewhere, or one that does not listen.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	of, _ := other.(*net.TCPListener).File()
	defer of.Close()
	l2, _ := NewListener(cfg, nil, nil)
	if err := l2.Inherit(int(of.Fd())); err == nil {
		t.Error("inherited a socket bound to another port")
	}
	sfd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	defer unix.Close(sfd)
	unix.Bind(sfd, &unix.SockaddrInet4{Addr: netip.MustParseAddr("127.0.0.1").As4()})
	if err := l2.Inherit(sfd); err == nil {
		t.Error("inherited a socket that does not listen")
	}
	if _, err := l2.ListeningFile(); err == nil {
		t.Error("ListeningFile of a listener that does not run")
	}
}

// TestListenBeforeRun: Listen binds before Run (a bind error shows then),
// connections wait in the queue until Run serves them, and CloseUnserved
// gives the address back when the listener will not run.
func TestListenBeforeRun(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.Bind = netip.MustParseAddrPort(freeAddr(t, "127.0.0.1"))
	l, err := NewListener(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err == nil {
		t.Fatal("a second Listen succeeded")
	}
	// The address is taken: another listener cannot bind it.
	other, _ := NewListener(cfg, nil, nil)
	if err := other.Listen(); err == nil {
		t.Fatal("Listen on a bound address succeeded")
	}
	// A client connects before Run: it waits in the queue.
	c, err := net.DialTimeout("tcp", cfg.Bind.String(), time.Second)
	if err != nil {
		t.Fatalf("connect before Run: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	<-l.Ready()
	if _, err := roundTrip(c, []byte("queued")); err != nil {
		t.Errorf("the connection made before Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	unserved, _ := NewListener(cfg, nil, nil)
	if err := unserved.Listen(); err != nil {
		t.Fatal(err)
	}
	unserved.CloseUnserved()
	again, _ := NewListener(cfg, nil, nil)
	if err := again.Listen(); err != nil {
		t.Fatalf("the address after CloseUnserved: %v", err)
	}
	again.CloseUnserved()
}

// freeAddr returns an address on ip with a port free now.
func freeAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// handedOver returns a duplicate of l's listening socket as a raw fd, as a
// successor process gets it.
func handedOver(t *testing.T, l *Listener) []int {
	t.Helper()
	f, err := l.ListeningFile()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return []int{fd}
}
