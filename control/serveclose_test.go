package control

import (
	"context"
	"net"
	"testing"
	"time"
)

// slowCloseListener is a listener whose Close makes Accept fail at once,
// as a closing socket does, and returns only when the test lets it: the
// moment the descriptor is released.
type slowCloseListener struct {
	net.Listener // never called: Accept and Close are this type's
	closing      chan struct{}
	release      chan struct{}
	closed       chan struct{}
}

func (l *slowCloseListener) Accept() (net.Conn, error) {
	<-l.closing
	return nil, net.ErrClosed
}

func (l *slowCloseListener) Close() error {
	close(l.closing)
	<-l.release
	close(l.closed)
	return nil
}

// TestServeReturnsOnceListenerClosed: Serve, stopped by its context,
// returns only once its listener's Close has returned, not as soon as
// Accept fails. Else the caller sees Serve done while the socket's
// descriptor is still open.
func TestServeReturnsOnceListenerClosed(t *testing.T) {
	ln := &slowCloseListener{closing: make(chan struct{}), release: make(chan struct{}), closed: make(chan struct{})}
	s := &Server{Path: "unused", Handler: func(context.Context, Request) (any, error) { return nil, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	cancel()
	<-ln.closing // Accept fails from here on
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) while its listener's Close was under way", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(ln.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return once its listener was closed")
	}
	select {
	case <-ln.closed:
	default:
		t.Fatal("Serve returned before its listener's Close")
	}
}
