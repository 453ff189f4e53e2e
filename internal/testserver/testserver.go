// Package testserver holds what the tests of the health checks share:
// loopback TCP servers (a listener whose connections a test's function
// serves, one after another, and one that never answers), a check that
// none of a test's goroutines, its servers' included, outlive it, and the
// steps of a check against a real RabbitMQ node (waiting for its plugin's
// listener, freezing and thawing the node).
package testserver

import (
	"net"
	"net/netip"
	"testing"

	"go.uber.org/goleak"
)

// Start listens on a free port of 127.0.0.1 and serves each connection
// with serve, one after another, closing it when serve returns, until t
// ends: then it closes the listener and waits for the connection being
// served, so that no goroutine of it outlives t. It returns the address.
func Start(t testing.TB, serve func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// NoLeaks fails t when goroutines started since the call outlive t,
// those of its servers included: it checks after every cleanup of t,
// Start's among them, so call it first.
func NoLeaks(t testing.TB) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}
