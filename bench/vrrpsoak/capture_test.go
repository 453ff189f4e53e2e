package vrrpsoak

import (
	"testing"
	"time"
)

func TestGapScan(t *testing.T) {
	m, o := [4]byte{10, 77, 0, 1}, [4]byte{10, 77, 0, 2}
	ms := int64(time.Millisecond)
	c := &Capture{}
	add := func(at int64, src [4]byte, prio uint8) {
		c.adverts = append(c.adverts, Advert{At: at, Src: src, Priority: prio})
	}
	var g gapScan
	if gap, end := g.scan(c, m); gap != 0 || end != 0 {
		t.Fatalf("empty capture: gap %v ending %d", gap, end)
	}
	add(10*ms, m, 150)
	add(20*ms, m, 150)
	add(25*ms, o, 100) // another sender's advert does not end the master's gap
	add(50*ms, m, 150)
	if gap, end := g.scan(c, m); gap != 30*time.Millisecond || end != 50*ms {
		t.Fatalf("first scan: gap %v ending %d, want 30ms ending %d", gap, end, 50*ms)
	}
	// The next scan starts from the last advert of the master seen.
	add(60*ms, m, 0) // priority 0 (resigning) is no advert of a master
	add(140*ms, m, 150)
	add(150*ms, m, 150)
	if gap, end := g.scan(c, m); gap != 90*time.Millisecond || end != 140*ms {
		t.Fatalf("second scan: gap %v ending %d, want 90ms ending %d", gap, end, 140*ms)
	}
	if gap, end := g.scan(c, m); gap != 0 || end != 0 {
		t.Fatalf("nothing new: gap %v ending %d", gap, end)
	}
	// A scan made now skips what was captured before (a window that
	// starts late), and measures its first gap from the master's last
	// advert.
	n := newGapScan(c, m)
	add(155*ms, o, 100)
	add(190*ms, m, 150)
	if gap, end := n.scan(c, m); gap != 40*time.Millisecond || end != 190*ms {
		t.Fatalf("a scan started late: gap %v ending %d, want 40ms ending %d", gap, end, 190*ms)
	}
}
