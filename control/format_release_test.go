package control

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/vrrp"
)

// TestFormatRelease: a released instance and its last handover are told.
func TestFormatRelease(t *testing.T) {
	s := fixture()
	now := s.Now
	v := &s.VRRP[0]
	v.Released, v.ReleasedSince, v.ReleaseReason = true, now.Add(-2*time.Minute), "released by the operator (rmqlb vrrp release)"
	v.Handover = &vrrp.Handover{Peer: netip.MustParseAddr("10.77.0.2"), PeerPriority: 100, Planned: true,
		PeerHeard: now.Add(-119 * time.Second), Done: now.Add(-119*time.Second + 3*time.Millisecond), Announced: true,
		Outcome: "10.77.0.2 announced the VIPs"}
	var b bytes.Buffer
	if err := Format(&b, s, FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"released rabbitmq: since 2m0s ago, until `rmqlb vrrp ready rabbitmq`: released by the operator",
		"last handover rabbitmq: to 10.77.0.2 (priority 100) 1m59s ago, VIPs kept 3ms after its advert: 10.77.0.2 announced the VIPs",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	v.ReleasedUntil = now.Add(10 * time.Minute)
	v.Handover.Done = time.Time{}
	b.Reset()
	if err := Format(&b, s, FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"for another 10m0s", "VIPs still held"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	// Not released, never handed over: no such lines.
	b.Reset()
	if err := Format(&b, fixture(), FormatOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "released") || strings.Contains(b.String(), "handover") {
		t.Errorf("status of an instance never released:\n%s", b.String())
	}
}
