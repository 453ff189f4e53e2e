package balancer

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A reload that turns keepalive off turns it off on the client sockets
// accepted from then on, which inherit the listening socket's keepalive.
func TestKeepAliveOffByApply(t *testing.T) {
	srv := newServer(t, "127.0.0.1", echo)
	cfg := baseConfig(backendsOf(srv))
	cfg.KeepAlive = 30 * time.Second
	r := startListener(t, cfg, 1)
	cfg.KeepAlive = -1
	if err := r.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	c := r.dial(t)
	if _, err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	var ka []int
	r.broadcast(r.loops, func(lp *loop) {
		for s := lp.head; s != nil; s = s.next {
			v, err := unix.GetsockoptInt(s.cli.fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
			if err != nil {
				t.Error(err)
			}
			ka = append(ka, v)
		}
	})
	if !slices.Equal(ka, []int{0}) {
		t.Fatalf("SO_KEEPALIVE of the client sockets after a reload turned it off: %v, want [0]", ka)
	}
}
