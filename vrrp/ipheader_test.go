package vrrp

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
)

// TestAppendIPv4: the header of every advert, byte for byte: TOS 0xc0 is
// DSCP CS6 (network control; ECN 0), TTL 255, protocol 112.
func TestAppendIPv4(t *testing.T) {
	payload := []byte{0x31, 0x07, 0x96, 0x01}
	got := appendIPv4([]byte{0xee}, netip.MustParseAddr("10.77.0.1"), MulticastIPv4, payload)
	want, _ := hex.DecodeString("ee" +
		"45" + "c0" + "0018" + // version 4, IHL 5; TOS; total length 24
		"0000" + "0000" + // ID and fragment: the kernel's
		"ff" + "70" + "0000" + // TTL 255, protocol 112, checksum: the kernel's
		"0a4d0001" + "e0000012" + // 10.77.0.1 > 224.0.0.18
		"31079601")
	if !bytes.Equal(got, want) {
		t.Errorf("appendIPv4 =\n%x, want\n%x", got, want)
	}
	if dscp := got[1+1] >> 2; dscp != 48 {
		t.Errorf("DSCP %d, want 48 (CS6)", dscp)
	}
}
