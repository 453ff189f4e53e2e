package integration

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestBackendAtOwnAddress: the real binary on a lab host, its listener on
// 0.0.0.0:7010, one backend at the host's own address at that port (the
// listener itself, which the file cannot tell) and one echo server on
// another host. Every client from a third host is served by the echo
// server; the listener does not connect to itself over and over (before,
// each such connection was handed on again, to itself once persistence
// pinned the host's own address to it); `rmqlb status` exits 1 and shows
// the backend as LOOP.
func TestBackendAtOwnAddress(t *testing.T) {
	l := newLab(t)
	h1, h2, client := l.Host("h1"), l.Host("h2"), l.Host("client")
	if _, err := h2.ServeEcho(h2.AddrPort(7010)); err != nil {
		t.Fatal(err)
	}
	listeners := fmt.Sprintf(`  - name: amqp
    bind: 0.0.0.0:7010
    persistence_timeout: 60s
    check: {type: tcp, interval: 200ms, rise: 1, fall: 1}
    backends:
      - {name: self, address: %s:7010}
      - {name: real, address: %s:7010}
`, h1.Addr, h2.Addr)
	d := startDaemon(t, l, h1, daemonConf{LogLevel: "info", Listeners: listeners})
	if err := d.waitBackendsUp(5*time.Second, "self", "real"); err != nil {
		t.Fatal(err)
	}
	target := h1.AddrPort(7010).String()
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := client.DialContext(ctx, "tcp", target)
		cancel()
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		msg := fmt.Sprintf("client %d", i)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.WriteString(c, msg)
		buf := make([]byte, len(msg))
		if err == nil {
			_, err = io.ReadFull(c, buf)
		}
		c.Close()
		if err != nil || string(buf) != msg {
			t.Fatalf("client %d: %q, %v; want its bytes back", i, buf, err)
		}
	}
	s := d.mustStatus()
	self, real := s.backend("self"), s.backend("real")
	if self == nil || real == nil {
		t.Fatalf("status lacks the backends:\n%s", s.text)
	}
	if loops, _ := self.raw["loops_back"].(bool); !loops || self.raw["total_conns"].(float64) != 0 {
		t.Errorf("self: %v", self.raw)
	}
	if n := real.raw["total_conns"].(float64); n < 20 {
		t.Errorf("real: %v sessions, want at least the 20 clients'", n)
	}
	// The listener's connections: the clients', and the checks of both
	// backends that reach it (those of self, every 200 ms), not
	// thousands.
	l0 := s.list("listeners")[0]
	if total := l0["total_conns"].(float64); total > 200 {
		t.Errorf("the listener accepted %v connections: it connected to itself", total)
	}
	out, err := h1.Run(d.bin, "status", "--socket", d.sock)
	if err == nil || !strings.Contains(string(out), "LOOP") || !strings.Contains(string(out), "1 looping back") {
		t.Errorf("rmqlb status: %v, want exit 1 and the LOOP row:\n%s", err, out)
	}
}
