package balancer

import (
	"io"
	"net"
	"testing"
)

// BenchmarkRoundTrip128 measures 128-byte request/response round trips
// through the proxy over loopback (client, proxy and echo server share the
// machine; compare with BenchmarkRoundTrip128Direct, not across machines).
func BenchmarkRoundTrip128(b *testing.B) {
	srv := newServer(b, "127.0.0.2", echo)
	r := startListener(b, baseConfig(backendsOf(srv)), 0)
	benchRoundTrip(b, r.Addr().String())
}

// BenchmarkRoundTrip128Direct is the same without the proxy.
func BenchmarkRoundTrip128Direct(b *testing.B) {
	srv := newServer(b, "127.0.0.2", echo)
	benchRoundTrip(b, srv.addr.String())
}

func benchRoundTrip(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 128)
	b.SetBytes(256)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBulk measures one-way bulk throughput through the proxy.
func BenchmarkBulk(b *testing.B) {
	sink := newServer(b, "127.0.0.2", func(c net.Conn) { io.Copy(io.Discard, struct{ io.Reader }{c}) })
	r := startListener(b, baseConfig(backendsOf(sink)), 0)
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnect measures connect + 1-byte echo + close through the proxy.
func BenchmarkConnect(b *testing.B) {
	srv := newServer(b, "127.0.0.2", echo)
	r := startListener(b, baseConfig(backendsOf(srv)), 0)
	benchConnect(b, r.Addr().String())
}

// benchConnect measures connect + 1-byte echo + close to addr.
func benchConnect(b *testing.B, addr string) {
	one := []byte{1}
	b.ResetTimer()
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Write(one)
		if _, err := io.ReadFull(c, one); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
