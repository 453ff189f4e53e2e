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

// BenchmarkConnectDirect is the same without the proxy: its allocations
// are the client's and the echo server's, to take from BenchmarkConnect's.
func BenchmarkConnectDirect(b *testing.B) {
	srv := newServer(b, "127.0.0.2", echo)
	benchConnect(b, srv.addr.String())
}

// benchConnect measures connect + 1-byte echo + close to addr.
func benchConnect(b *testing.B, addr string) {
	one := []byte{1}
	b.ResetTimer()
	for b.Loop() {
		connectOnce(b, addr, one)
	}
}

// connectOnce connects to addr, echoes one byte (one, reused) and closes.
func connectOnce(tb testing.TB, addr string, one []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	c.Write(one)
	if _, err := io.ReadFull(c, one); err != nil {
		tb.Fatal(err)
	}
	c.Close()
}

// TestProxiedConnectAllocatesNothing: a proxied connection (accept,
// backend connect, a byte each way, close) allocates nothing in the
// proxy: as many allocations per connection as the same client and
// echo server without it (theirs: the dial, the accepted conn, the
// server's goroutine), give or take one for the pools' growth.
func TestProxiedConnectAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("counts allocations over hundreds of connections")
	}
	srv := newServer(t, "127.0.0.2", echo)
	r := startListener(t, baseConfig(backendsOf(srv)), 0)
	one := []byte{1}
	connect := func(addr string) func() {
		return func() { connectOnce(t, addr, one) }
	}
	const runs = 300
	proxied := testing.AllocsPerRun(runs, connect(r.Addr().String()))
	direct := testing.AllocsPerRun(runs, connect(srv.addr.String()))
	t.Logf("allocations per connection: %.1f through the proxy, %.1f direct", proxied, direct)
	if proxied > direct+1 {
		t.Fatalf("the proxy allocates %.1f times per connection", proxied-direct)
	}
}
