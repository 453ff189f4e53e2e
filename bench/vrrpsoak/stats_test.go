package vrrpsoak

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestAnalyse(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ms := func(n float64) int64 { return t0.Add(time.Duration(n * float64(time.Millisecond))).UnixNano() }
	h1 := netip.MustParseAddr("10.77.0.1")
	h2 := netip.MustParseAddr("10.77.0.2")
	adv := func(at float64, src netip.Addr, prio uint8, out bool) Advert {
		return Advert{At: ms(at), Src: src.As4(), VRID: 1, Priority: prio, Out: out}
	}
	// The master sends at 0, 10, 21, 30, 70 (late by 30), 80 ms; h2
	// receives them 0.1 ms later but misses the one of 30 ms, then takes
	// over for a while (sends at 66, 76 ms), and sends once more at 200.
	var sent, recv []Advert
	for _, at := range []float64{0, 10, 21, 30, 70, 80} {
		sent = append(sent, adv(at, h1, 150, true))
		if at != 30 {
			recv = append(recv, adv(at+0.1, h1, 150, false))
		}
	}
	recv = append(recv, adv(66, h2, 100, true), adv(76, h2, 100, true), adv(200, h2, 100, true))
	// Outside the window: ignored.
	sent = append(sent, adv(-50, h1, 150, true), adv(500, h1, 150, true))
	caps := []HostCapture{
		{Host: "h1", Addr: h1, Priority: 150, Adverts: sent},
		{Host: "h2", Addr: h2, Priority: 100, Adverts: recv},
	}
	got := analyse(caps, h1, 10*time.Millisecond, t0.Add(-time.Millisecond), t0.Add(300*time.Millisecond))
	// Gaps between sends: 10, 11, 9, 40, 10 ms: jitter 0, 1, 1, 30, 0.
	if got.Sent != 6 {
		t.Errorf("Sent = %d, want 6", got.Sent)
	}
	if got.JitterP50 != time.Millisecond || got.JitterMax != 30*time.Millisecond || got.JitterP99 != 30*time.Millisecond {
		t.Errorf("jitter p50/p99/max = %v/%v/%v, want 1ms/30ms/30ms", got.JitterP50, got.JitterP99, got.JitterMax)
	}
	// Gaps at h2: 10, 11, 49 (21 -> 70), 10 ms.
	if got.MaxGap != 49*time.Millisecond || got.MaxGapHost != "h2" {
		t.Errorf("MaxGap = %v at %s, want 49ms at h2", got.MaxGap, got.MaxGapHost)
	}
	if got.LateGaps != 1 || got.DownGaps != 1 {
		t.Errorf("late/down gaps = %d/%d, want 1/1 (49 ms > 2 x 10 and > 3 x 10 + 6.1)", got.LateGaps, got.DownGaps)
	}
	// h2 advertised in two runs: 66-76 ms and 200 ms.
	if got.ForeignMasters != 2 {
		t.Errorf("ForeignMasters = %d, want 2", got.ForeignMasters)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of none = %v", got)
	}
}

func TestParseAdvert(t *testing.T) {
	// An IPv4 header (20 bytes, protocol 112) and a VRRPv3 advert of
	// VRID 1, priority 150, 10 ms, one address, with the pseudo-header
	// checksum.
	src, dst := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("224.0.0.18")
	payload := marshalAdvert(t, src, dst)
	ip := []byte{0x45, 0xc0, 0, byte(20 + len(payload)), 0, 0, 0, 0, 255, 112, 0, 0}
	ip = append(ip, src.AsSlice()...)
	ip = append(ip, dst.AsSlice()...)
	a, ok := parseAdvert(append(ip, payload...))
	if !ok || a.Source() != src || a.VRID != 1 || a.Priority != 150 {
		t.Errorf("parseAdvert = %+v, %v; want VRID 1, priority 150 from %v", a, ok, src)
	}
	if _, ok := parseAdvert(ip); ok {
		t.Error("parseAdvert accepted a header without an advert")
	}
	if _, ok := parseAdvert([]byte{0x60, 0, 0}); ok {
		t.Error("parseAdvert accepted a short, non-IPv4 packet")
	}
}

func TestRTClass(t *testing.T) {
	fields := func(policy, prio string) string {
		f := make([]string, 39)
		for i := range f {
			f[i] = "0"
		}
		f[37], f[38] = prio, policy
		return "1234 (rmqlb (x)) " + strings.Join(f, " ")
	}
	for _, c := range []struct{ stat, want string }{
		{fields("1", "50"), "SCHED_FIFO 50"},
		{fields("2", "10"), "SCHED_RR 10"},
		{fields("0", "0"), ""},
		{"garbage", ""},
	} {
		if got := rtClass(c.stat); got != c.want {
			t.Errorf("rtClass(%q) = %q, want %q", c.stat, got, c.want)
		}
	}
	if got, _ := procScheduling(os.Getpid()); !strings.Contains(got, "of ") {
		t.Errorf("procScheduling(self) = %q", got)
	}
}
