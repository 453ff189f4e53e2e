package balancer

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
	"time"
)

func TestProxyEcho(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 2)
	c := r.dial(t)
	msg := []byte("AMQP\x00\x00\x09\x01")
	got, err := roundTrip(c, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %q, want %q", got, msg)
	}
	c.CloseWrite()
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after half-close: %q, %v; want EOF", rest, err)
	}
	s := r.Snapshot()
	if s.Total != 1 || backendSnap(s, "a").BytesIn != uint64(len(msg)) || backendSnap(s, "a").BytesOut != uint64(len(msg)) {
		t.Errorf("snapshot %+v", s)
	}
	eventually(t, 5*time.Second, "session to end", func() bool { return r.Snapshot().Active == 0 })
}

func TestProxyLargeEcho(t *testing.T) {
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 1)
	c := r.dial(t)
	data := make([]byte, 8<<20)
	rand.Read(data)
	go func() {
		c.Write(data)
		c.CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo differs: got %d bytes, want %d", len(got), len(data))
	}
}
