package vrrp

import (
	"net/netip"
	"testing"
)

func TestSameAddrs(t *testing.T) {
	a := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	var scratch []netip.Addr
	for _, c := range []struct {
		x, y []netip.Addr
		want bool
	}{
		{a("10.0.0.1", "10.0.0.2"), a("10.0.0.2", "10.0.0.1"), true},
		{a("::ffff:10.0.0.1"), a("10.0.0.1"), true},
		{a("10.0.0.1", "10.0.0.1"), a("10.0.0.1", "10.0.0.2"), false},
		{a("10.0.0.1"), a("10.0.0.1", "10.0.0.2"), false},
		{nil, nil, true},
	} {
		x0 := append([]netip.Addr(nil), c.x...)
		if got := sameAddrs(c.x, c.y, &scratch); got != c.want {
			t.Errorf("sameAddrs(%v, %v) = %v, want %v", c.x, c.y, got, c.want)
		}
		for i := range x0 {
			if c.x[i] != x0[i] {
				t.Errorf("sameAddrs changed its argument: %v, was %v", c.x, x0)
			}
		}
	}
	x, y := a("10.0.0.3", "10.0.0.1", "10.0.0.2"), a("10.0.0.1", "10.0.0.2", "10.0.0.3")
	if n := testing.AllocsPerRun(100, func() { sameAddrs(x, y, &scratch) }); n != 0 {
		t.Errorf("sameAddrs allocates %v times with a warm scratch buffer", n)
	}
}
