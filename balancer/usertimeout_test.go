package balancer

import (
	"context"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// userTimeouts returns TCP_USER_TIMEOUT (milliseconds) of the client and
// the server side of every session of r, read by their loops.
func userTimeouts(t *testing.T, r *runningListener) [][2]int {
	t.Helper()
	var got [][2]int
	r.broadcast(r.loops, func(lp *loop) {
		for s := lp.head; s != nil; s = s.next {
			var v [2]int
			for i, fd := range []int{s.cli.fd, s.srv.fd} {
				ms, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
				if err != nil {
					t.Error(err)
				}
				v[i] = ms
			}
			got = append(got, v)
		}
	})
	return got
}

// Both sockets of a session have the listener's TCP user timeout, in
// milliseconds rounded up: the client side inherits it from the listening
// socket, the server side has it from the connect on.
func TestUserTimeoutBothSides(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.TCPUserTimeout = 1500*time.Millisecond + time.Microsecond
	r := startListener(t, cfg, 1)
	r.mu.Lock()
	lnfd := r.lnfd
	r.mu.Unlock()
	if ms, err := unix.GetsockoptInt(lnfd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); err != nil || ms != 1501 {
		t.Errorf("listening socket: TCP_USER_TIMEOUT %d (%v), want 1501", ms, err)
	}
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := userTimeouts(t, r); !slices.Equal(got, [][2]int{{1501, 1501}}) {
		t.Fatalf("TCP_USER_TIMEOUT of client and server side: %v, want [[1501 1501]]", got)
	}
}

// Without a TCP user timeout the sockets keep the kernel's default, 0.
func TestUserTimeoutOffByDefault(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := userTimeouts(t, r); !slices.Equal(got, [][2]int{{0, 0}}) {
		t.Fatalf("TCP_USER_TIMEOUT of client and server side: %v, want [[0 0]]", got)
	}
}

// A reload that changes the TCP user timeout applies it to the sessions
// accepted from then on, on both sides; those it found keep theirs. One
// that turns it off clears it on the client sockets, which inherit the
// listening socket's.
func TestUserTimeoutByApply(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.TCPUserTimeout = 2 * time.Second
	r := startListener(t, cfg, 1)
	session := func() {
		t.Helper()
		c := r.dial(t)
		if _, err := roundTrip(c, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	session()
	cfg.TCPUserTimeout = 3 * time.Second
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	session()
	cfg.TCPUserTimeout = 0
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	session()
	got := userTimeouts(t, r)
	slices.SortFunc(got, func(a, b [2]int) int { return a[0] - b[0] })
	if want := [][2]int{{0, 0}, {2000, 2000}, {3000, 3000}}; !slices.Equal(got, want) {
		t.Fatalf("TCP_USER_TIMEOUT of client and server side of each session: %v, want %v", got, want)
	}
}

// A listening socket handed over by a process made with another TCP user
// timeout gets the successor's, which its accepted sockets inherit:
// turned off, it is cleared.
func TestUserTimeoutOfInheritedSocket(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	for _, ut := range []time.Duration{0, 3 * time.Second} {
		cfg := baseConfig(backendsOf(srv))
		cfg.TCPUserTimeout = 2 * time.Second
		old := startListener(t, cfg, 1)
		cfg.Bind = old.Addr()
		fds := handedOver(t, old.Listener)
		old.stop(t)
		cfg.TCPUserTimeout = ut
		succ, err := NewListener(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		succ.loopCount = 1
		if err := succ.Inherit(fds[0]); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- succ.Run(ctx) }()
		<-succ.Ready()
		ms, err := unix.GetsockoptInt(fds[0], unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		if err != nil || time.Duration(ms)*time.Millisecond != ut {
			t.Errorf("successor with %v: TCP_USER_TIMEOUT of the inherited socket %d ms (%v)", ut, ms, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
