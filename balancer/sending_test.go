package balancer

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestSending: a backend is sending once it wrote bytes to a client (a
// client's bytes to it do not count), for the time asked about; an
// unknown backend is not.
func TestSending(t *testing.T) {
	got := make(chan struct{}, 2)
	srv := newServer(t, "127.0.0.1", func(c net.Conn) {
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got <- struct{}{}
			if bytes.Contains(buf[:n], []byte("x")) {
				c.Write([]byte("pong"))
			}
		}
	})
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	if r.Sending("a", time.Hour) {
		t.Fatal("sending before any session")
	}
	c := r.dial(t)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	<-got
	if r.Sending("a", time.Hour) {
		t.Fatal("sending after only the client's bytes")
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	// The loop counts the bytes right after it wrote them.
	eventually(t, 5*time.Second, "sending within an hour of its bytes", func() bool { return r.Sending("a", time.Hour) })
	if r.Sending("a", time.Nanosecond) {
		t.Error("sending within the last nanosecond")
	}
	if r.Sending("nope", time.Hour) {
		t.Error("an unknown backend is sending")
	}
}
