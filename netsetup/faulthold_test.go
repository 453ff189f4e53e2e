package netsetup

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// A fault that comes back soon after the last one ended (an error that
// persists) lasts twice as long as that one, up to maxFaultHold; one that
// comes after a quiet while lasts Recheck again.
func TestFaultHoldDownDoubles(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := newVIPSet(VIPConfig{Interface: "eth0", VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32")}},
		VIPSetOptions{Clock: clk, Recheck: time.Second}, false)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("adding VIP: operation not permitted")
	for _, tc := range []struct {
		after time.Duration // since the last fault ended
		want  time.Duration
	}{
		{0, time.Second}, {time.Second, 2 * time.Second}, {time.Second, 4 * time.Second},
		{time.Second, 8 * time.Second}, {repeatWindow + time.Second, time.Second},
	} {
		clk.Advance(tc.after)
		s.setFault(boom)
		if s.faultHold != tc.want {
			t.Fatalf("fault %v after the last ended: hold-down %v, want %v", tc.after, s.faultHold, tc.want)
		}
		clk.Advance(s.faultHold)
		s.clearFault()
	}
	for _, tc := range []struct {
		repeats int
		want    time.Duration
	}{{0, time.Second}, {3, 8 * time.Second}, {8, 256 * time.Second}, {9, maxFaultHold}, {60, maxFaultHold}} {
		if got := faultHoldDown(time.Second, tc.repeats); got != tc.want {
			t.Errorf("faultHoldDown(1s, %d) = %v, want %v", tc.repeats, got, tc.want)
		}
	}
}
