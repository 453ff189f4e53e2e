package freeport

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// TestAddr: the addresses are free, below the ephemeral range and never
// handed out twice.
func TestAddr(t *testing.T) {
	lo, hi := pickRange(ephemeralLow())
	seen := map[string]bool{}
	for range 50 {
		a := Addr(t, "127.0.0.1")
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			t.Fatal(err)
		}
		if p := int(ap.Port()); p < lo || p >= hi {
			t.Errorf("%s: port outside %d-%d", a, lo, hi-1)
		}
		if seen[a] {
			t.Errorf("%s handed out twice", a)
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("listening on a free address: %v", err)
		}
		ln.Close()
	}
}

// TestPickSkipsTaken: a port something listens on, or that was handed out,
// is not picked; when none is left, the error says where it looked.
func TestPickSkipsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p := taken.Addr().(*net.TCPAddr).Port
	if _, err := pick("127.0.0.1", p, p+1, 20); err == nil || !strings.Contains(err.Error(), "none in 20 tries") {
		t.Fatalf("a port in use was picked, or the error does not say so: %v", err)
	}
	taken.Close()
	a, err := pick("127.0.0.1", p, p+1, 20)
	if err != nil {
		t.Fatalf("a free port was not picked: %v", err)
	}
	if _, err := pick("127.0.0.1", p, p+1, 20); err == nil {
		t.Fatalf("%s handed out twice", a)
	}
}

// TestPickRange: the range ends where the ephemeral one starts and never
// reaches the privileged ports.
func TestPickRange(t *testing.T) {
	for _, c := range []struct{ low, lo, hi int }{
		{32768, 22768, 32768},
		{49152, 39152, 49152},
		{5000, 1024, 11024},
	} {
		if lo, hi := pickRange(c.low); lo != c.lo || hi != c.hi {
			t.Errorf("pickRange(%d) = %d, %d; want %d, %d", c.low, lo, hi, c.lo, c.hi)
		}
	}
}
